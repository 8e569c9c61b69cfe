import pytest

from vmctl import errors
from vmctl.errors import EXIT_CODES, exit_code_for


def test_every_error_class_has_a_distinct_exit_code():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.VmctlError)]
    assert set(classes) == set(EXIT_CODES)
    codes = [EXIT_CODES[c] for c in classes if c is not errors.VmctlError]
    assert len(codes) == len(set(codes)) and errors.USAGE_ERROR_EXIT not in codes


@pytest.mark.parametrize("cls,code", [(errors.InvalidInput, 3), (errors.NotFound, 4), (errors.Conflict, 5),
                                      (errors.InsufficientResources, 6), (errors.HostError, 7),
                                      (errors.Timeout, 9), (errors.MigrationFailed, 13),
                                      (errors.MigrationTimeout, 14)])
def test_exit_codes_are_stable(cls, code):
    err = cls("m", "h")
    assert exit_code_for(err) == code
    assert err.to_dict() == {"code": err.code, "exit_code": code, "message": "m", "hint": "h"}


def test_unknown_exceptions_are_internal_errors():
    assert exit_code_for(RuntimeError()) == 1
