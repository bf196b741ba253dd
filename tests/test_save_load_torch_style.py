"""torch.save / torch.load as PyTorch programs call them: any extension, file objects, foreign files."""

import io
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from optional_dependencies import require


@pytest.mark.parametrize("name", ["model.pth", "model.pt", "weights.bin", "checkpoint"])
def test_state_dict_round_trip_whatever_the_extension(tmp_path, name):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    cr.save(model.state_dict(), tmp_path / name)
    loaded = cr.load(tmp_path / name, weights_only=True)
    assert list(loaded) == list(model.state_dict())
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    other.load_state_dict(loaded)
    x = cr.randn(5, 3)
    np.testing.assert_array_equal(other(x).detach().numpy(), model(x).detach().numpy())
    assert cr.load(str(tmp_path / name), map_location="cpu", weights_only=False).keys() == loaded.keys()


def test_file_objects(tmp_path):
    buffer = io.BytesIO()
    cr.save({"w": cr.ones(2, 2), "epoch": 3}, buffer)
    buffer.seek(0)
    loaded = cr.load(buffer)
    assert loaded["epoch"] == 3 and loaded["w"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    with open(tmp_path / "f.pth", "wb") as f:
        cr.save({"b": cr.zeros(3, dtype=cr.float64)}, f)
    with open(tmp_path / "f.pth", "rb") as f:
        assert cr.load(f)["b"].dtype == cr.float64


def test_refusals_name_the_problem(tmp_path):
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"save model.state_dict\(\), not the model"):
        cr.save(model, tmp_path / "m.pth")
    cr.save(model.state_dict(), tmp_path / "m.pth")
    if not cr.cuda.is_available():
        with pytest.raises(RuntimeError, match="load: map_location: cannot place a tensor on 'cuda'"):
            cr.load(tmp_path / "m.pth", map_location="cuda")
    with pytest.raises(TypeError, match="pickle_module"):
        cr.load(tmp_path / "m.pth", pickle_module=pickle)


def test_a_plain_pickle_is_recognised(tmp_path):
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    with pytest.raises(ValueError, match="Python pickle.*never unpickles.*torch.load"):
        cr.load(path)
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ValueError, match="NumPy .npy file.*numpy.load"):
        cr.load(tmp_path / "a.npy")


def test_real_pytorch_files_are_recognised_and_the_hint_works(tmp_path):
    torch = require("torch")
    theirs = torch.nn.Linear(3, 2)
    path = tmp_path / "torch_model.pth"
    torch.save(theirs.state_dict(), path)
    with pytest.raises(ValueError, match="zip archive, the format of torch.save.*never unpickles"):
        cr.load(path)
    legacy = tmp_path / "legacy.pt"
    torch.save(theirs.state_dict(), legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="Python pickle"):
        cr.load(legacy)
    # The conversion the message suggests:
    converted = tmp_path / "converted.pth"
    cr.save(torch.load(path, weights_only=True), converted)
    ours = nn.Linear(3, 2)
    ours.load_state_dict(cr.load(converted))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(
        ours(cr.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-6
    )
