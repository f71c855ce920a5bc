"""Files: model files, the codec and container of training states, durable writes. No pickle.

- :mod:`.model_file`: :func:`save` / :func:`load` / :func:`load_weights` /
  :func:`read_metadata` of a model (weights plus architecture in one safetensors file);
- :mod:`.architecture`: a model's structure as JSON (:func:`architecture`, :func:`build`);
- :mod:`.tensorfile`: the safetensors container every file is, read with bounded memory and
  its whole-file checksum verified (:func:`read_tensor_file`, :func:`write_tensor_file`);
- :mod:`.codec`: nested state trees <-> JSON plus named arrays (:func:`encode`, :func:`decode`),
  and :func:`parse_json`, the bounded parser of every JSON text read from a file;
- :mod:`.checksum`: the checksums of files (:func:`file_checksum`) and of bytes, text or
  tensors (:func:`checksum`);
- :mod:`.torch_names`: PyTorch ``state_dict`` files into a deltaprop model and out
  (:func:`load_torch_state`, :func:`save_torch_state`);
- :mod:`.files`: :func:`atomic_write` (fsync, rename), :func:`remove_stale_temporaries`,
  :func:`check_path`, :func:`check_regular_file`, :func:`same_path`.

The training state of a ``fit`` (``fit(checkpoint=...)``) is built on these in
``deltaprop.train.state``; io itself never imports ``train``.
"""

from .architecture import architecture, build
from .checksum import checksum, file_checksum
from .codec import decode, encode, parse_json, to_json, tree_diff
from .files import (
    PathLike,
    atomic_write,
    check_path,
    check_regular_file,
    remove_stale_temporaries,
    same_path,
)
from .model_file import FORMAT, VERSION, load, load_weights, read_metadata, save
from .tensorfile import TensorFile, read_tensor_file, write_tensor_file
from .torch_names import from_torch_state, load_torch_state, save_torch_state, to_torch_state

__all__ = [
    "FORMAT",
    "VERSION",
    "PathLike",
    "TensorFile",
    "architecture",
    "atomic_write",
    "build",
    "check_path",
    "check_regular_file",
    "checksum",
    "decode",
    "encode",
    "file_checksum",
    "load",
    "load_weights",
    "parse_json",
    "read_metadata",
    "read_tensor_file",
    "remove_stale_temporaries",
    "same_path",
    "save",
    "to_json",
    "tree_diff",
    "write_tensor_file",
    # PyTorch state_dicts (safetensors) in and out
    "from_torch_state",
    "load_torch_state",
    "save_torch_state",
    "to_torch_state",
]
