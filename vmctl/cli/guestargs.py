"""Where vmctl's options end and a guest command begins (exec, ssh, snapshot run).

click either parses options everywhere (then ``exec web1 ls -l`` takes ``-l`` for
vmctl's) or stops at the first argument (then ``exec web1 --timeout 30 -- cmd``
sends ``--timeout 30`` to the guest). A guest command needs both, so this command
class splits the arguments itself, before click parses vmctl's part:

- with ``--``: everything before it is vmctl's (options anywhere, as for every other
  command), everything after it is the guest command, literally;
- without ``--`` (as ssh takes the rest after the host): the first argument that is
  not an option or an option's value, after the VM name, starts the command and
  everything from there is literal, except a word that is one of this command's own
  options (``exec web1 uname -a --timeout 5``): that is ambiguous and refused, with
  a hint to use ``--``, rather than guessed. The options every command takes
  (``-c``, ``-H``, ``-q``, ``--json`` unless the command has its own) are the guest's there:
  ``sh -c`` and ``grep -q`` are too common to refuse.
"""

from __future__ import annotations

import click
from typer.core import TyperCommand

from vmctl.cli.common import CommonOption
from vmctl.cli.state import CliState
from vmctl.errors import GUEST_COMMAND_FAILURE_EXIT

_ARGV_KEY = "vmctl.guest_argv"
ROOT_OPTIONS = {"-c", "--connect", "-H", "--host", "--debug", "--version"}


class UsageHint(click.UsageError):
    """A usage error with a hint line (shown by ``vmctl.cli.app.run``)."""

    def __init__(self, message: str, hint: str, ctx: click.Context | None = None) -> None:
        super().__init__(message, ctx)
        self.hint = hint


def guest_argv(ctx: click.Context) -> list[str]:
    """The guest command that :class:`GuestCommand` split off (empty if none was given)."""
    return list(ctx.meta.get(_ARGV_KEY, []))


class _Options:
    """This command's option words: which take a value, which are flags."""

    def __init__(self, params: list[click.Parameter]) -> None:
        self.takes_value: dict[str, bool] = {}
        self.dest: dict[str, str] = {}
        for param in params:
            if isinstance(param, click.Option):
                for word in [*param.opts, *param.secondary_opts]:
                    self.takes_value[word] = not (param.is_flag or param.count)
                    self.dest[word] = param.name or ""
        self.help = {w for p in params if isinstance(p, click.Option) and p.name == "help" for w in p.opts}
        self.common = {w for p in params if isinstance(p, CommonOption) for w in p.opts}

    def words(self, token: str) -> tuple[list[str], bool, bool]:
        """(option words in the token, all known, the next token is a value) as click reads it:
        ``--x=v``, ``--x``, or short options bundled (``-np4``)."""
        head = token.partition("=")[0]
        if head in self.takes_value:
            return [head], True, self.takes_value[head] and "=" not in token
        if token.startswith("--"):
            return [head], False, False
        found = []
        for i, char in enumerate(token[1:], start=1):
            word = "-" + char
            if word not in self.takes_value:
                return found + [word], False, False
            found.append(word)
            if self.takes_value[word]:
                return found, True, i == len(token) - 1
        return found, True, False

    def is_own(self, token: str) -> bool:
        """Whether a word of the guest command (given without ``--``) is also one of ours."""
        head = token.partition("=")[0] if token.startswith("--") else token
        return head in self.takes_value and head not in self.help and head not in self.common


class GuestCommand(TyperCommand):
    """A command whose last arguments are a command to run: see the module docstring."""

    command_metavar = "-- CMD [ARGS...]"
    #: the options (their dest names) that replace the leading NAME (exec's --all, --stack)
    instead_of_name: tuple[str, ...] = ()
    #: the exit status of any failure of vmctl's own, usage errors included (exec: 255)
    failure_exit: int | None = None

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [*super().collect_usage_pieces(ctx), self.command_metavar]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        cli_state = ctx.find_object(CliState)
        if cli_state is not None and self.failure_exit is not None:
            cli_state.failure_exit = self.failure_exit  # usage errors too: see ExecCommand
        try:
            own, command = self._split(ctx, list(args))
        except click.UsageError:
            if not ctx.resilient_parsing:  # shell completion parses half-typed lines
                raise
            own, command = list(args), []
        ctx.meta[_ARGV_KEY] = command
        if cli_state is not None:  # run() guessed from all of argv; a literal --json is the guest's
            cli_state.json = "--json" in own
        try:
            return super().parse_args(ctx, own)
        except click.NoSuchOption as exc:
            raise UsageHint(exc.format_message(), self._hint_for(ctx, exc.option_name), ctx) from None

    def _split(self, ctx: click.Context, args: list[str]) -> tuple[list[str], list[str]]:
        options = _Options(self.get_params(ctx))
        separator, seen, positionals, unknown = self._scan(options, args)
        if separator is not None:
            extra = positionals[self._names(seen):]
            if extra and not unknown:  # (an unknown option: click names it, a clearer error)
                why = " (--all or --stack replaces NAME)" if not self._names(seen) else ""
                raise UsageHint(f"unexpected argument {args[extra[0]]!r} before `--`{why}",
                                f"with `--`, the command is all that follows it: {self._usage(ctx)}", ctx)
            return args[:separator], args[separator + 1:]
        if len(positionals) <= self._names(seen):
            return args, []
        start = positionals[self._names(seen)]
        command = args[start:]
        ambiguous = [w for w in command if options.is_own(w)]
        if ambiguous:
            cli_state = ctx.find_object(CliState)
            if cli_state is not None:
                cli_state.json = "--json" in args[:start]
            raise UsageHint(f"{ambiguous[0]!r} after the command {command[0]!r} could be vmctl's option or "
                            "the command's", f"put vmctl's options before `--` and the command after it: "
                            f"{self._usage(ctx)}", ctx)
        return args[:start], command

    @staticmethod
    def _scan(options: _Options, args: list[str]) -> tuple[int | None, set[str], list[int], bool]:
        """Read the arguments as click would, up to the first ``--``: (its index, the options
        seen, the positions of the other arguments, whether an option was unknown)."""
        seen: set[str] = set()
        positionals: list[int] = []
        unknown = False
        i = 0
        while i < len(args):
            token = args[i]
            if token == "--":
                return i, seen, positionals, unknown
            if token.startswith("-") and token != "-":
                words, known, value_follows = options.words(token)
                unknown = unknown or not known
                seen.update(options.dest.get(w, "") for w in words)
                i += 2 if value_follows else 1
                continue
            positionals.append(i)
            i += 1
        return None, seen, positionals, unknown

    def _names(self, seen: set[str]) -> int:
        """How many arguments (the VM name) come before the command."""
        return 0 if any(option in seen for option in self.instead_of_name) else 1

    def _usage(self, ctx: click.Context) -> str:
        return f"{ctx.command_path} [OPTIONS] {' '.join(self.collect_usage_pieces(ctx)[1:])}"

    def _hint_for(self, ctx: click.Context, option: str) -> str:
        root = ctx.find_root().info_name or "vmctl"
        if option in ROOT_OPTIONS:
            return f"{option} is a global option: it goes before the command ({root} {option} ...)"
        return f"a guest command's own options go after `--`: {self._usage(ctx)}"


class ExecCommand(GuestCommand):
    """``vmctl exec``: every status but 255 is the guest command's, so a usage error
    exits 255 as well (its own code, 2, is in the message's ``vmctl_exit_code``)."""

    instead_of_name = ("all_vms", "stack")
    failure_exit = GUEST_COMMAND_FAILURE_EXIT


class ShellCommand(GuestCommand):
    """``vmctl ssh NAME [CMD...]``: the command is optional (a login shell)."""

    command_metavar = "[[--] CMD [ARGS...]]"


class RunCommand(GuestCommand):
    """``vmctl run [OPTIONS] -- CMD``: no VM name before the command (the VM is made
    for it); like exec, vmctl's own failures exit 255."""

    command_metavar = "[-- CMD [ARGS...]]"
    failure_exit = GUEST_COMMAND_FAILURE_EXIT

    def _names(self, seen: set[str]) -> int:
        return 0
