"""vCPUs/memory against the template's shape; libvirt's errors said per template element."""

import pytest

from vmctl.errors import InvalidInput, OperationFailed
from vmctl.ops.preflight import naming_element
from vmctl.ops.resolve import resources
from vmctl.spec.request import CreateRequest
from vmctl.spec.template import TemplateFacts


def test_resources_default_to_the_template_and_must_fit_its_numa_cells():
    numa = TemplateFacts(vcpus=2, memory_mib=1024, topology_cpus=2, numa_cpus=2, numa_memory_mib=1024)
    assert resources(CreateRequest("a"), numa, "t") == (2, 1024)
    assert resources(CreateRequest("a"), TemplateFacts(), "t") == (1, 512)
    with pytest.raises(InvalidInput, match="topology") as caught:
        resources(CreateRequest("a", cpus=4), numa, "t")
    assert caught.value.hint == "give --cpus 2, or change the topology in the template"
    with pytest.raises(InvalidInput, match="1024 MiB") as caught:
        resources(CreateRequest("a", memory_mib=512), numa, "t")
    assert caught.value.hint == "give --memory 1024M"


def test_libvirt_errors_name_the_template_element():
    error = naming_element(OperationFailed("define the domain: unsupported configuration: IDE controllers are "
                                           "unsupported for this QEMU binary or machine type", hint="see the log"),
                           source="template 'x'", step="define")
    assert isinstance(error, OperationFailed)
    assert error.message.startswith("template 'x': <controller type='ide'> / <disk bus='ide'>: libvirt refused")
    assert "IDE controllers are unsupported" in error.message and "see the log" in error.hint
