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


def test_import_stores_a_cleaned_described_copy(tmp_path, monkeypatch):
    import pytest

    from vmctl.errors import Conflict, InvalidInput
    from vmctl.ops.templates import import_template, load_template

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    src = tmp_path / "vm.xml"
    src.write_text("<domain type='kvm' id='3'><name>vm</name><uuid>c5d6e1f2-0a9b-4c8d-8e7f-6a5b4c3d2e1f</uuid>"
                   "<memory>524288</memory><os><type machine='q35'>hvm</type></os><devices>"
                   "<disk type='file' device='disk'><source file='/x.qcow2'/><target dev='vda' bus='virtio'/></disk>"
                   "<disk type='file' device='disk'><source file='/y.qcow2'/><target dev='vdb' bus='virtio'/></disk>"
                   "<interface type='user'><mac address='52:54:00:00:00:09'/></interface></devices></domain>")
    with pytest.raises(InvalidInput, match=r"<disk> vdb \(/y.qcow2\)"):
        import_template(src, "mine")
    assert not (tmp_path / "vmctl" / "templates" / "mine.xml").exists()  # refused: nothing stored
    prepared = import_template(src, "mine", drop=True)
    stored = load_template("mine")
    assert stored.description == "imported from vm.xml: q35, BIOS" and not stored.builtin
    text = stored.xml.decode()
    assert "c5d6e1f2" not in text and "52:54:00:00:00:09" not in text and "/y.qcow2" not in text
    assert [u.element for u in prepared.dropped] == ["<disk> vdb (/y.qcow2)"]
    with pytest.raises(Conflict):
        import_template(src, "mine", drop=True)
