"""What `vmctl up` decides from a stack and the VMs on the host (pure)."""

from __future__ import annotations

import pytest

from vmctl.errors import Conflict
from vmctl.policy.stackplan import ENTRY_LABEL, STACK_LABEL, Existing, plan_up, stack_labels
from vmctl.spec.stack import parse_stack

TEXT = """\
version: 1
name: shop
vms:
  db:
    cpus: 2
    memory: 512M
  web:
    count: 2
    depends_on: [db]
    labels: {role: web}
"""


def stack():
    return parse_stack(TEXT, "stack.yaml", {})


def vm(name, entry, *, stack_name="shop", cpus=2, memory=512, image="tiny") -> Existing:
    labels = {STACK_LABEL: stack_name, ENTRY_LABEL: entry} if stack_name else {}
    return Existing(name, tuple(sorted(labels.items())), cpus, memory, image)


def kinds(actions):
    return [(a.kind, a.vm, a.layer) for a in actions]


def test_an_empty_host_gets_everything_in_dependency_order():
    assert kinds(plan_up(stack(), [])) == [("create", "db", 0), ("create", "web-1", 1), ("create", "web-2", 1)]


def test_matching_vms_are_kept_and_differences_said_not_acted_on():
    actions = plan_up(stack(), [vm("db", "db", cpus=1), vm("web-1", "web", cpus=1, memory=512)])
    assert kinds(actions) == [("differs", "db", 0), ("keep", "web-1", 1), ("create", "web-2", 1)]
    assert actions[0].detail == "cpus 1, the file says 2 (`vmctl set db --cpus 2`)"


def test_a_vm_of_another_image_differs():
    [db, *_] = plan_up(stack(), [vm("db", "db", image="debian-12")])
    assert db.kind == "differs" and "image debian-12, the file says tiny" in db.detail


def test_vms_of_the_stack_no_longer_in_the_file_are_orphans():
    actions = plan_up(stack(), [vm("web-3", "web"), vm("other", "x", stack_name="another")])
    assert ("orphan", "web-3", -1) in kinds(actions) and all(a.vm != "other" for a in actions)


@pytest.mark.parametrize("existing", [vm("db", "db", stack_name=""), vm("db", "db", stack_name="another"),
                                      vm("db", "web")])
def test_a_vm_of_a_listed_name_that_is_not_this_entrys_is_refused(existing):
    with pytest.raises(Conflict, match="VM db exists and belongs to") as refused:
        plan_up(stack(), [existing])
    assert "nothing was changed" in refused.value.hint


def test_labels_of_a_stack_vm():
    s = stack()
    assert stack_labels(s, s.vm("web")) == {"role": "web", STACK_LABEL: "shop", ENTRY_LABEL: "web"}
