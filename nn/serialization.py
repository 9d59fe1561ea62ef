"""Weights on disk, in the safetensors format, with the optimiser's state when asked.

A safetensors file is

    8 bytes: n, the length of the header (an unsigned little-endian integer)
    n bytes: a JSON object, name -> {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
             (and optionally "__metadata__": {string: string})
    the rest: the arrays' raw little-endian bytes, each at [begin, end) of this part.

It holds numbers and nothing else: unlike a pickle (what ``torch.save``
writes), loading it cannot run code, so a weights file from anywhere is
safe to open. PyTorch reads and writes it with ``safetensors.torch``, and
the names here are those of ``Module.state_dict()`` (parameters and
buffers), which follow PyTorch's, so weights move between the two.

**With an optimiser** (``save(model, path, optimizer=opt)``), the same
file also holds ``opt.state_dict()`` in ``torch.optim``'s layout: each
state array under ``optimizer.state.<index>.<name>`` (``"step"`` a 0-d
float64 array), and in the metadata, under ``"optimizer"``, a JSON object
with the optimiser's class name and its ``param_groups`` (settings and
parameter indices; tuples such as ``betas`` become JSON lists). Only a
file with that metadata entry has optimiser names, so a model may have a
submodule called ``optimizer`` when no optimiser is saved.
``load(model, path, optimizer=opt)`` restores both; a load without
``optimizer=`` ignores the optimiser's part.

The ``safetensors`` package is an optional dependency (``pip install
safetensors``), imported only when weights are saved or loaded.

**Saving never loses the old file.** ``save`` writes a temporary file in
the target's folder, flushes it to disk and renames it over the target,
so a crash or an error leaves the old file whole. Through a symlink it
writes the file the link points to and keeps the link; an existing file
keeps its permission bits. A path that is a folder, a FIFO or another
non-regular file, or that cannot be written, is refused with an error
naming the path as given, and nothing is replaced. No temporary file is
left after an error; one left by a killed process
(``.<name>.<pid>-<16 hex digits>.autodiff-tmp``, beside the target) is
removed by the next save of that path once that process is gone.

**Loading changes nothing until everything is checked.** ``load`` reads
the header's length and compares it with the file's size before reading
more, checks every name, shape and dtype (and the optimiser's state)
before it changes the model or the optimiser, and never unpickles.
"""

import errno
import json
import math
import os
import re
import secrets
import stat

import numpy as np

from .module import check_state_names, state_items
from .optim import Optimizer

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
OPTIMIZER_PREFIX = "optimizer."
OPTIMIZER_METADATA = "optimizer"
TEMPORARY_SUFFIX = ".autodiff-tmp"
_TEMPORARY_MIDDLE = re.compile(r"(\d+)-[0-9a-f]{16}")


class WeightsFileError(ValueError):
    """A file that is not a valid safetensors file, or whose optimiser part does not fit."""


def save(module, path, optimizer=None):
    """Write ``module.state_dict()`` (and ``optimizer.state_dict()``, if given) to ``path`` as safetensors.

    The file is replaced atomically; see the module's docstring for what
    happens with links, permissions and paths that cannot be written.

    >>> import os, tempfile
    >>> from autodiff import nn
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     nn.save(nn.Linear(3, 2), os.path.join(folder, "model.safetensors"))
    ...     os.listdir(folder)          # the file alone: no temporary file left beside it
    ['model.safetensors']
    """
    safetensors = _import_safetensors()
    path = os.fspath(path)
    arrays = module.state_dict()
    metadata = None
    if optimizer is not None:
        clashing = [name for name in arrays if name.startswith(OPTIMIZER_PREFIX)]
        if clashing:
            raise ValueError(
                f"cannot save {path} with an optimiser: the model's own names {clashing} start with "
                f"{OPTIMIZER_PREFIX!r}, where the optimiser's state goes"
            )
        optimizer_arrays, settings = _optimizer_part(optimizer, path)
        arrays.update(optimizer_arrays)
        metadata = {OPTIMIZER_METADATA: settings}
    for name, array in arrays.items():
        if array.dtype not in NUMPY_DTYPES:
            raise TypeError(f"cannot save {path}: {name!r} has dtype {array.dtype}, which safetensors cannot hold")
    _write_atomically(path, lambda: safetensors.numpy.save(arrays, metadata=metadata))


def load(module, path, optimizer=None):
    """Copy the weights in the safetensors file ``path`` into ``module`` (and its optimiser state into ``optimizer``).

    The file must hold exactly the names of ``module.state_dict()``, each
    with its shape and dtype (float64 for a Value); with ``optimizer``, it
    must hold an optimiser's state that fits it (same class, groups and
    parameter shapes). Everything is checked before anything changes: on
    any error the module and the optimiser are as they were. A file that is
    not safetensors (a pickle from ``torch.save``, say) is refused and
    never unpickled. Returns the module.

    >>> import os, tempfile
    >>> from autodiff import nn
    >>> trained, fresh = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     nn.save(trained, os.path.join(folder, "model.safetensors"))
    ...     model = nn.load(fresh, os.path.join(folder, "model.safetensors"))
    >>> model is fresh, bool((fresh.weight.data == trained.weight.data).all())
    (True, True)
    """
    safetensors = _import_safetensors()
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer= takes an nn.optim optimiser, got {type(optimizer).__name__}")
    path = os.fspath(path)
    contents, entries, metadata = _read(path)
    has_optimizer = OPTIMIZER_METADATA in metadata
    model_names = [name for name in entries if not (has_optimizer and name.startswith(OPTIMIZER_PREFIX))]
    _check_against_module(module, {name: entries[name] for name in model_names}, path)
    if optimizer is not None and not has_optimizer:
        raise WeightsFileError(f"{path} holds no optimiser state (it was saved without optimizer=)")
    try:
        arrays = safetensors.numpy.load(contents)
    except safetensors.SafetensorError as error:  # its own checks of the layout (overlapping arrays, say)
        raise WeightsFileError(f"{path}: not a valid safetensors file: {error}") from error
    previous = None
    if optimizer is not None:
        state_dict = _optimizer_state_dict(metadata[OPTIMIZER_METADATA], arrays, optimizer, path)
        previous = optimizer.state_dict()
        try:
            optimizer.load_state_dict(state_dict)
        except (TypeError, ValueError) as error:
            raise WeightsFileError(f"{path}: the optimiser's state does not fit {type(optimizer).__name__}: {error}") \
                from error
    try:
        module.load_state_dict({name: arrays[name] for name in model_names})
    except BaseException:
        if previous is not None:
            optimizer.load_state_dict(previous)
        raise
    return module


def _import_safetensors():
    try:
        import safetensors.numpy
    except ImportError as error:
        raise ImportError(
            'saving and loading weights needs the safetensors package: pip install safetensors'
        ) from error
    return safetensors


# -- the optimiser's part ------------------------------------------------------------


def _optimizer_part(optimizer, path):
    """The optimiser's arrays by file name, and its settings as the JSON text of the metadata."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer= takes an nn.optim optimiser, got {type(optimizer).__name__}")
    state_dict = optimizer.state_dict()
    arrays = {
        f"{OPTIMIZER_PREFIX}state.{index}.{name}": value
        for index, entry in state_dict["state"].items() for name, value in entry.items()
    }
    settings = {"class": type(optimizer).__name__, "param_groups": state_dict["param_groups"]}
    try:
        text = json.dumps(settings, allow_nan=False, default=_plain_number)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"cannot save {path} with the optimiser: its param_groups hold a setting that JSON cannot write "
            f"(numbers, strings, True/False, None and lists only): {error}"
        ) from None
    return arrays, text


def _plain_number(x):
    """A numpy scalar in the settings (an lr someone computed with numpy) as the Python number JSON can write."""
    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        return x.item()
    raise TypeError(f"{type(x).__name__} {x!r} is not a number, string, True/False, None or list")


def _optimizer_state_dict(text, arrays, optimizer, path):
    """The optimiser's state dict from the metadata's JSON and the ``optimizer.state.*`` arrays."""
    try:
        settings = _json(text)
    except _TooDeep as error:
        raise WeightsFileError(f"{path}: the optimiser's settings in the metadata are {error}") from None
    except ValueError:
        raise WeightsFileError(f"{path}: the optimiser's settings in the metadata are not JSON") from None
    if not (isinstance(settings, dict) and isinstance(settings.get("param_groups"), list)):
        raise WeightsFileError(f"{path}: the optimiser's settings in the metadata lack param_groups")
    saved_class = settings.get("class")
    if saved_class != type(optimizer).__name__:
        raise WeightsFileError(
            f"{path} holds the state of a {saved_class} optimiser, not of a {type(optimizer).__name__}"
        )
    state = {}
    for name, array in arrays.items():
        if not name.startswith(OPTIMIZER_PREFIX):
            continue
        parts = name[len(OPTIMIZER_PREFIX):].split(".")
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit():
            raise WeightsFileError(
                f"{path}: {name!r} is not an optimiser state name (optimizer.state.<index>.<name>)"
            )
        state.setdefault(int(parts[1]), {})[parts[2]] = array
    return {"state": state, "param_groups": settings["param_groups"]}


# -- writing ------------------------------------------------------------------------


def _write_atomically(path, payload):
    """Write the bytes ``payload()`` makes to a new file beside ``path``'s target, flush it, rename it over.

    A rename within one folder is atomic: readers see the old file or the
    new one, never a mixture.
    """
    target = os.path.realpath(path)
    mode = _existing_mode(path, target)
    folder, name = os.path.split(target)
    _remove_stale_temporaries(folder, name)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(8)}{TEMPORARY_SUFFIX}")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise type(error)(error.errno, f"cannot save {path}: cannot create a file in {folder}: {error.strerror}",
                          path) from None
    try:
        with open(descriptor, "wb") as file:
            if mode is not None:
                os.fchmod(file.fileno(), mode)
            file.write(payload())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        _remove_quietly(temporary)
        if isinstance(error, OSError) and error.errno is not None:
            raise type(error)(error.errno, f"cannot save {path}: {error.strerror}", path) from None
        raise
    _sync_folder(folder)


def _existing_mode(path, target):
    """The permission bits of the file at ``target`` (None if there is none), after refusing what cannot be replaced."""
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"cannot save {path}: it is a folder, not a file", path)
    if not stat.S_ISREG(status.st_mode):
        raise OSError(errno.EINVAL, f"cannot save {path}: it is not a regular file (a FIFO, device or socket)", path)
    if not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, f"cannot save {path}: it is not writable", path)
    return stat.S_IMODE(status.st_mode)


def _remove_stale_temporaries(folder, name):
    """Remove temporary files that a save of ``name`` left behind when its process was killed."""
    prefix = f".{name}."
    try:
        entries = os.listdir(folder)
    except OSError:
        return  # creating the temporary file will say what is wrong with the folder
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(TEMPORARY_SUFFIX)):
            continue
        match = _TEMPORARY_MIDDLE.fullmatch(entry[len(prefix):-len(TEMPORARY_SUFFIX)])
        if match is None or _process_exists(int(match.group(1))):
            continue
        leftover = os.path.join(folder, entry)
        if stat.S_ISREG(os.lstat(leftover).st_mode):
            _remove_quietly(leftover)


def _process_exists(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _remove_quietly(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _sync_folder(folder):
    """Flush the folder's entry for the renamed file, so the rename itself survives a crash (POSIX)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- reading ------------------------------------------------------------------------


def _read(path):
    """The file's bytes, its entries (name -> (dtype, shape)) and metadata, every size checked on the way."""
    status = os.stat(path)
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"cannot load {path}: it is a folder, not a weights file", path)
    if not stat.S_ISREG(status.st_mode):
        raise WeightsFileError(f"cannot load {path}: it is not a regular file (a FIFO, device or socket)")
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        start = file.read(8)
        if len(start) < 8:
            raise _not_safetensors(path, start, f"it has {len(start)} bytes, fewer than the 8 that give the header's length")
        header_length = int.from_bytes(start, "little")
        if header_length > size - 8:
            raise _not_safetensors(path, start, f"its header length {header_length} runs past the end "
                                   f"of the file ({size} bytes): truncated, or not safetensors")
        header_bytes = file.read(header_length)
        entries, metadata = _parse_header(header_bytes, size - 8 - header_length, path, start)
        contents = start + header_bytes + file.read()
    if len(contents) != size:
        raise WeightsFileError(f"{path} changed while it was read ({size} bytes, then {len(contents)})")
    return contents, entries, metadata


def _parse_header(header_bytes, data_length, path, start):
    try:
        header = _json(header_bytes.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError included
        reason = f"is {error}" if isinstance(error, _TooDeep) else "is not JSON"
        raise _not_safetensors(path, start + header_bytes, f"its header {reason}") from None
    if not isinstance(header, dict):
        raise _not_safetensors(path, start + header_bytes, "its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise WeightsFileError(f"{path}: its __metadata__ is not an object of strings")
    entries = {name: _checked_entry(name, entry, data_length, path) for name, entry in header.items()}
    return entries, metadata


class _TooDeep(ValueError):
    pass


def _json(text):
    """``json.loads(text)``, with JSON nested too deep for the parser's recursion refused as a ValueError.

    A safetensors header nests three levels deep and the optimiser's
    settings a few more; a file nested thousands deep is hostile or broken,
    and json would escape with RecursionError.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise _TooDeep("JSON nested deeper than it can be read (a valid file nests a few levels)") from None


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


def _not_safetensors(path, start, reason):
    """The error for a file that is not safetensors, saying what it looks like if it is a pickle."""
    if start.startswith(b"PK\x03\x04"):
        kind = ("; it is a zip archive, as torch.save writes (a pickle inside): it is not unpickled here. "
                "Convert it in PyTorch with safetensors.torch.save_file(model.state_dict(), path)")
    elif start.startswith(b"\x80"):
        kind = "; it looks like a pickle, which is never unpickled here"
    else:
        kind = ""
    return WeightsFileError(f"{path} is not a safetensors file: {reason}{kind}")


def _check_against_module(module, entries, path):
    """Raise unless ``entries`` name exactly the module's state, each with its shape and dtype."""
    check_state_names(module, entries, path)
    problems = []
    for name, target in state_items(module):
        numbers = np.asarray(target.data)  # a Value's number: 0-d, F64
        shape, dtype = numbers.shape, NUMPY_DTYPES.get(numbers.dtype, str(numbers.dtype))
        found_dtype, found_shape = entries[name]
        if found_shape != shape:
            problems.append(f"{name!r}: the model has shape {shape}, the file has shape {found_shape}")
        if found_dtype != dtype:
            problems.append(f"{name!r}: the model has dtype {dtype}, the file has dtype {found_dtype}")
    if problems:
        raise ValueError(f"{path} does not fit {type(module).__name__}: " + "; ".join(problems))
