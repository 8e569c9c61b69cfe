import pytest

from vmctl.errors import InvalidInput, NotFound
from vmctl.ops.templates import list_templates, load_template


@pytest.fixture(autouse=True)
def user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "vmctl" / "templates"


def test_builtin_templates_listed():
    names = {t.name: t for t in list_templates()}
    assert {"linux", "linux-direct"} <= set(names)
    assert names["linux-direct"].direct_boot and not names["linux"].direct_boot
    assert all(t.builtin and t.description for t in names.values())


def test_user_template_overrides_and_loads_by_path(user_config, tmp_path):
    user_config.mkdir(parents=True)
    builtin = load_template("linux").xml.decode()
    (user_config / "linux.xml").write_text(builtin.replace("machine=\"pc\"", "machine=\"q35\""))
    assert not load_template("linux").builtin
    mine = tmp_path / "mine.xml"
    mine.write_text(builtin)
    assert load_template(str(mine)).name == "mine"


def test_missing_and_bad_templates(tmp_path):
    with pytest.raises(NotFound):
        load_template("nope")
    with pytest.raises(NotFound):
        load_template(str(tmp_path / "nope.xml"))
    with pytest.raises(InvalidInput):
        load_template("Bad Name")
    evil = tmp_path / "evil.xml"
    evil.write_text('<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/shadow">]><domain><name>&x;</name></domain>')
    with pytest.raises(InvalidInput, match="DOCTYPE"):
        load_template(str(evil))
    wrong = tmp_path / "wrong.xml"
    wrong.write_text("<pool><name>x</name></pool>")
    with pytest.raises(InvalidInput, match="not a libvirt domain"):
        load_template(str(wrong))
