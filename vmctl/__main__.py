from vmctl.cli.app import main

main()
