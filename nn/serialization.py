"""Weights on disk, in the safetensors format.

A safetensors file is

    8 bytes: n, the length of the header (an unsigned little-endian integer)
    n bytes: a JSON object, name -> {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
             (and optionally "__metadata__": {string: string})
    the rest: the arrays' raw little-endian bytes, each at [begin, end) of this part.

It holds numbers and nothing else: unlike a pickle (what ``torch.save``
writes), loading it cannot run code, so a weights file from anywhere is
safe to open. PyTorch reads and writes it with ``safetensors.torch``, and
the names here are those of ``Module.state_dict()``, which follow
PyTorch's, so weights move between the two.

The ``safetensors`` package is an optional extra (``pip install
"autodiff[weights]"``), imported only when weights are saved or loaded.

``save`` writes to a temporary file beside the target and moves it into
place only once every byte is on disk, so a crash or an error never leaves
a half-written file, and an existing file stays whole if saving fails.
``load`` checks the file and every name, shape and dtype before it
changes the model, and leaves the model as it was on any error.
"""

import json
import math
import os
import secrets

import numpy as np

from autodiff import Value

from .module import StateDictError

# safetensors' dtype names, and the numpy dtypes that have one
ITEM_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}
NUMPY_DTYPES = {
    np.dtype(np.bool_): "BOOL", np.dtype(np.uint8): "U8", np.dtype(np.int8): "I8",
    np.dtype(np.uint16): "U16", np.dtype(np.int16): "I16", np.dtype(np.float16): "F16",
    np.dtype(np.uint32): "U32", np.dtype(np.int32): "I32", np.dtype(np.float32): "F32",
    np.dtype(np.uint64): "U64", np.dtype(np.int64): "I64", np.dtype(np.float64): "F64",
}


class WeightsFileError(ValueError):
    """A file that is not a valid safetensors file."""


def save(module, path):
    """Write ``module.state_dict()`` to ``path`` as a safetensors file, replacing it atomically."""
    safetensors = _import_safetensors()
    path = os.fspath(path)
    state = module.state_dict()
    for name, array in state.items():
        if array.dtype not in NUMPY_DTYPES:
            raise TypeError(
                f"cannot save {path}: parameter {name!r} has dtype {array.dtype}, which safetensors cannot hold"
            )
    _write_atomically(path, safetensors.numpy.save(state))


def load(module, path):
    """Copy the weights in the safetensors file ``path`` into ``module``; returns the module.

    The file must hold exactly the module's parameter names, each with the
    parameter's shape and dtype (float64 for a Value). Everything is
    checked before anything changes: on any error the module is untouched.
    A file that is not safetensors (a pickle from ``torch.save``, say) is
    refused and never unpickled.
    """
    safetensors = _import_safetensors()
    path = os.fspath(path)
    with open(path, "rb") as file:
        contents = file.read()
    entries = _read_header(contents, path)
    _check_against_module(module, entries, path)
    try:
        arrays = safetensors.numpy.load(contents)
    except safetensors.SafetensorError as error:  # its own checks of the layout (overlapping arrays, say)
        raise WeightsFileError(f"{path}: not a valid safetensors file: {error}") from error
    module.load_state_dict(arrays)
    return module


def _import_safetensors():
    try:
        import safetensors.numpy
    except ImportError as error:
        raise ImportError(
            'saving and loading weights needs the safetensors package: pip install "autodiff[weights]"'
        ) from error
    return safetensors


def _write_atomically(path, payload):
    """Write ``payload`` to a new file beside ``path``, flush it to disk, then rename it over ``path``.

    A rename within one folder is atomic: readers see the old file or the
    new one, never a mixture.
    """
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    try:
        with open(temporary, "xb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _sync_folder(folder)


def _sync_folder(folder):
    """Flush the folder's entry for the renamed file, so the rename itself survives a crash (POSIX)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_header(contents, path):
    """name -> (dtype name, shape) for each array in the file, every entry checked against the file's size."""
    if len(contents) < 8:
        reason = f"it has {len(contents)} bytes, fewer than the 8 that give the header's length"
        raise _not_safetensors(path, contents, reason)
    header_length = int.from_bytes(contents[:8], "little")
    data_length = len(contents) - 8 - header_length
    if data_length < 0:
        raise _not_safetensors(path, contents, f"its header length {header_length} runs past the end of the file "
                                f"({len(contents)} bytes): truncated, or not safetensors")
    try:
        header = json.loads(contents[8:8 + header_length].decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        raise _not_safetensors(path, contents, "its header is not JSON") from None
    if not isinstance(header, dict):
        raise _not_safetensors(path, contents, "its header is not a JSON object")
    entries = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        entries[name] = _checked_entry(name, entry, data_length, path)
    return entries


def _checked_entry(name, entry, data_length, path):
    if not (isinstance(entry, dict) and {"dtype", "shape", "data_offsets"} <= entry.keys()):
        raise WeightsFileError(f"{path}: the header entry for {name!r} lacks dtype, shape or data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in ITEM_SIZES:
        raise WeightsFileError(f"{path}: {name!r} has an unknown dtype {dtype!r}")
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise WeightsFileError(f"{path}: {name!r} has an invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise WeightsFileError(f"{path}: {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    expected = ITEM_SIZES[dtype] * math.prod(shape)
    if end - begin != expected:
        raise WeightsFileError(
            f"{path}: {name!r} of shape {tuple(shape)} and dtype {dtype} needs {expected} bytes, "
            f"its data_offsets {offsets} span {end - begin}"
        )
    if end > data_length:
        raise WeightsFileError(
            f"{path}: {name!r} ends at byte {end} of the data, which has only {data_length} bytes:"
            " the file is truncated"
        )
    return dtype, tuple(shape)


def _not_safetensors(path, contents, reason):
    """The error for a file that is not safetensors, saying what it looks like if it is a pickle."""
    if contents.startswith(b"PK\x03\x04"):
        kind = ("; it is a zip archive, as torch.save writes (a pickle inside): it is not unpickled here. "
                "Convert it in PyTorch with safetensors.torch.save_file(model.state_dict(), path)")
    elif contents.startswith(b"\x80"):
        kind = "; it looks like a pickle, which is never unpickled here"
    else:
        kind = ""
    return WeightsFileError(f"{path} is not a safetensors file: {reason}{kind}")


def _check_against_module(module, entries, path):
    """Raise unless ``entries`` name exactly the module's parameters with their shapes and dtypes."""
    parameters = dict(module.named_parameters())
    missing = [name for name in parameters if name not in entries]
    unexpected = [name for name in entries if name not in parameters]
    if missing or unexpected:
        raise StateDictError(
            f"{path} does not match {type(module).__name__}: "
            f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}"
        )
    problems = []
    for name, parameter in parameters.items():
        if isinstance(parameter, Value):
            shape, dtype = (), "F64"
        else:
            shape, dtype = parameter.data.shape, NUMPY_DTYPES.get(parameter.data.dtype, str(parameter.data.dtype))
        found_dtype, found_shape = entries[name]
        if found_shape != shape:
            problems.append(f"{name!r}: the model has shape {shape}, the file has shape {found_shape}")
        if found_dtype != dtype:
            problems.append(f"{name!r}: the model has dtype {dtype}, the file has dtype {found_dtype}")
    if problems:
        raise ValueError(f"{path} does not fit {type(module).__name__}: " + "; ".join(problems))
