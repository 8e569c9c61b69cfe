"""SSH to guests. Only ``session`` and ``tunnel`` import paramiko; everything else
here (command strings and streams, SFTP copies, TCP probes, keys) does not, so
readiness probes and key handling stay cheap to import."""
