import pytest
import torch

from napari_unet_nuclei import available_devices
from napari_unet_nuclei._device import device_name, resolve_device


def test_cpu_is_always_listed_last():
    assert available_devices()[-1] == "cpu"


def test_auto_picks_first_available():
    assert str(resolve_device("auto")).startswith(available_devices()[0].split(":")[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown device|Unsupported device"):
        resolve_device("tpu-9000")


def test_device_name_says_what_auto_picks():
    assert device_name("auto") == available_devices()[0] == device_name("AUTO")
    assert device_name("cpu") == "cpu" and device_name("cuda:1") == "cuda:1"
