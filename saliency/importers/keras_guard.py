"""Reading a Keras file as a hostile one: only what it should hold, within bounds, before any byte.

An HDF5 file can point outside itself: a dataset with external storage reads any local file
(/etc/passwd became an embedding), an external link opens another HDF5 file, a virtual dataset
maps others in, and a filter plugin loads code. A zip can declare a 3 GB member inside 3 MB,
or encrypt one. So, before anything is read:
- the zip's directory is bounded (entries, sizes), members are stored or deflated, not encrypted;
- JSON is bounded in size and nesting (safe_json);
- the whole HDF5 tree is walked once: only hard links, no external storage, no virtual datasets,
  only the filters h5py ships (deflate, shuffle, fletcher32, lzf), a bounded number of objects,
  attributes read only when small;
- a dataset is read only when its declared shape is what the architecture says (`read`).
"""

import zipfile

import numpy as np

from .. import safe_json
from ..errors import ModelError

MAX_ZIP_ENTRIES = 64  # a .keras holds config.json, metadata.json, model.weights.h5 and maybe assets
MAX_CONFIG_BYTES = 8 * 2**20  # a config of hundreds of layers is under 1 MB
MAX_WEIGHTS_BYTES = 2**30  # the weights file as declared in the zip
MAX_ELEMENTS = 2**26  # all weights together: 67 million numbers (256 MB as float32)
MAX_OBJECTS = 10_000  # groups and datasets in the HDF5 file
MAX_ATTRIBUTE_BYTES = 2**20
SAFE_FILTERS = {1, 2, 3, 32000}  # deflate, shuffle, fletcher32, lzf: compiled into h5py


def zip_member(z: zipfile.ZipFile, name: str, limit: int, path: str):
    """A member's ZipInfo, refused unless stored or deflated, not encrypted, and at most `limit` bytes."""
    info = z.getinfo(name)
    if info.flag_bits & 0x1:
        raise ModelError(f"{path}: {name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelError(f"{path}: {name} uses compression method {info.compress_type} (stored or deflated only)")
    if info.file_size > limit:
        raise ModelError(f"{path}: {name} declares {info.file_size:,} bytes (at most {limit:,})")
    return info


def open_zip(path: str) -> zipfile.ZipFile:
    """The .keras zip, its directory bounded before zipfile reads all of it into memory."""
    try:
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # the end-of-directory record: entry count and directory size
    except OSError as e:
        raise ModelError(f"{path} is not a readable Keras model ({e.strerror})") from None
    if end is None:
        raise ModelError(f"{path} is not a readable Keras model (not a zip)")
    entries, directory = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > MAX_ZIP_ENTRIES or directory > MAX_ZIP_ENTRIES * 1024:
        raise ModelError(f"{path}: a zip of {entries:,} entries is not a Keras model (at most {MAX_ZIP_ENTRIES})")
    z = zipfile.ZipFile(path)
    if len(z.infolist()) > MAX_ZIP_ENTRIES:  # the record can understate; the directory read cannot
        z.close()
        raise ModelError(f"{path}: a zip of more than {MAX_ZIP_ENTRIES} entries is not a Keras model")
    return z


def read_json_member(z, name: str, path: str):
    zip_member(z, name, MAX_CONFIG_BYTES, path)
    with z.open(name) as member:
        return json_value(member.read(MAX_CONFIG_BYTES + 1), f"{path}: {name}")


def json_value(raw, where: str):
    if len(raw) > MAX_CONFIG_BYTES:
        raise ModelError(f"{where} is over {MAX_CONFIG_BYTES // 2**20} MB")
    try:
        return safe_json.loads(raw)
    except safe_json.JSONError as e:
        raise ModelError(f"{where} is not usable JSON: {e}") from None


def small_attribute(obj, name: str, default=None, limit: int = MAX_ATTRIBUTE_BYTES):
    """An HDF5 attribute, read only if its stored size is within `limit`."""
    if name not in obj.attrs:
        return default
    attribute = obj.attrs.get_id(name)
    try:
        size = attribute.get_storage_size()
    except (OSError, RuntimeError):  # HDF5 answers an error, not 0, for an empty attribute
        size = 0 if attribute.get_space().get_select_npoints() == 0 else limit + 1
    if size > limit:
        raise ModelError(f"HDF5 attribute {name!r} of {obj.name} holds {size:,} bytes (at most {limit:,})")
    value = obj.attrs[name]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def check_tree(f) -> None:
    """Walk every link of the file once; refuse anything that reads outside it or is unbounded."""
    import h5py

    seen, stack, count = set(), [f], 0
    while stack:
        group = stack.pop()
        for name in group:
            count += 1
            if count > MAX_OBJECTS:
                raise ModelError(f"the HDF5 file holds more than {MAX_OBJECTS:,} objects")
            link = group.get(name, getlink=True)
            where = f"{group.name.rstrip('/')}/{name}"
            if isinstance(link, h5py.ExternalLink):
                raise ModelError(f"HDF5 {where} is an external link to {link.filename!r}: refused "
                                 "(a model file must not read other files)")
            if not isinstance(link, h5py.HardLink):
                raise ModelError(f"HDF5 {where} is a {type(link).__name__}: only hard links are read")
            obj = group[name]
            address = h5py.h5o.get_info(obj.id).addr
            if address in seen:
                continue  # a second hard link to an object already checked (or a loop back to it)
            seen.add(address)
            if isinstance(obj, h5py.Group):
                stack.append(obj)
            elif isinstance(obj, h5py.Dataset):
                check_dataset(obj, where)
            else:
                raise ModelError(f"HDF5 {where} is a {type(obj).__name__}, not a group or dataset")


def check_dataset(ds, where: str) -> None:
    plist = ds.id.get_create_plist()
    if plist.get_external_count():
        raise ModelError(f"HDF5 dataset {where} keeps its data in another file: refused "
                         "(a model file must not read other files)")
    if ds.is_virtual:
        raise ModelError(f"HDF5 dataset {where} is virtual (mapped from other files): refused")
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in SAFE_FILTERS:
            raise ModelError(f"HDF5 dataset {where} uses filter {code} (only deflate, shuffle, fletcher32, lzf)")


def read(ds, shape: tuple, where: str) -> np.ndarray:
    """A dataset's values, once its declared dtype and shape are what the architecture says."""
    if ds is None or not hasattr(ds, "shape"):
        raise ModelError(f"{where}: its weights are missing from the file")
    if ds.dtype.kind != "f" or ds.dtype.itemsize not in (2, 4, 8):
        raise ModelError(f"{where}: weights stored as {ds.dtype}, not floating point")
    if tuple(ds.shape) != tuple(shape):
        raise ModelError(f"{where}: weights of shape {tuple(ds.shape)}, expected {tuple(shape)}")
    try:
        array = np.asarray(ds[()])
    except (OSError, ValueError) as e:
        raise ModelError(f"{where}: its weights cannot be read ({str(e).splitlines()[0][:80]})") from None
    if not np.isfinite(array).all():
        raise ModelError(f"{where}: weights that are not finite floating-point numbers")
    return array
