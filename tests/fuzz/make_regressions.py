#!/usr/bin/env python3
"""Writes the crafted regression inputs of tests/fuzz/regressions/<target>/: the defects issue 12
confirmed by hand (each named after what it does), rebuilt from their descriptions. Inputs that
libFuzzer finds are copied there by tools/fuzz.sh's user instead (docs/reliability.md lists all).

    python3 tests/fuzz/make_regressions.py        (from the repository root; standard library only)
"""
import gzip
import io
import pathlib
import struct
import zipfile
import zlib

root = pathlib.Path(__file__).resolve().parent
reg = root / "regressions"
fixtures = root.parent / "data" / "checkpoints"


def write(target, name, data):
    d = reg / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def torch_zip(pickle_bytes, storages=None, compress=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:  # fixed timestamps: the same bytes every run
        z.writestr(zipfile.ZipInfo("archive/data.pkl", (1980, 1, 1, 0, 0, 0)), pickle_bytes, compress)
        for key, data in (storages or {}).items():
            z.writestr(zipfile.ZipInfo("archive/data/" + key, (1980, 1, 1, 0, 0, 0)), data, compress)
    return buf.getvalue()


# --- model_shapes: generator inputs (tests/fuzz/model_shapes.hpp reads them byte by byte) -----
# input 1x1x1; conv1 2^28 channels 1x1; PrimaryCaps 2^20 channels of 128x128 kernels, pad 64,
# capsules of 8: its weights have 2^20 * 2^28 * 128 * 128 = 2^62 elements, whose byte length
# 4 x 2^62 wraps to 0 in 64 bits. Before the fix the reference kernels' validation accepted it
# and invoke read the weights out of bounds.
write("model_shapes", "numel-wrap-primarycaps-2e62",
      bytes([0, 0, 0, 0xF7, 0, 0, 0, 0xF4, 0xF1, 0, 0xF0, 7, 0, 0, 0, 0, 0]))

# --- torch_zip ----------------------------------------------------------------------------------
good = (fixtures / "tiny_xifengguo.pt").read_bytes()


def patch_central_size(data, entry_suffix, new_size):
    b = bytearray(data)
    p = b.find(b"PK\x01\x02")
    while p >= 0:
        name_len, extra_len, comment_len = struct.unpack("<HHH", b[p + 28:p + 34])
        name = bytes(b[p + 46:p + 46 + name_len]).decode()
        if name.endswith(entry_suffix):
            b[p + 24:p + 28] = struct.pack("<I", new_size)  # uncompressed size
            return bytes(b)
        p = b.find(b"PK\x01\x02", p + 46 + name_len + extra_len + comment_len)
    raise SystemExit("entry not found: " + entry_suffix)


# data.pkl's central-directory size set to 0xFFFFFFFE: capsconv zero-filled 4.2 GB before
# reading a byte (and died of bad_alloc under a 2 GB limit)
write("torch_zip", "zip-stated-size-fffffffe.pt", patch_central_size(good, "data.pkl", 0xFFFFFFFE))
# a stated size under the cap but far beyond the data (it cost 200 MB): read in chunks, libzip
# finds the archive inconsistent
write("torch_zip", "zip-stated-size-200m.pt", patch_central_size(good, "data.pkl", 200 << 20))

# The memo chain: each round fetches the last list from the memo, appends a new list to it, stores
# the new one and pops the old: the depth of the first list was never recomputed, the chain grew
# without limit and freeing it recursed through shared_ptr destructors (SIGSEGV). A million
# rounds deflate to a few kilobytes.
chain = b"\x80\x02]q\x00" + b"h\x00]q\x00ab" * 1_000_000 + b"."
write("torch_zip", "pickle-memo-chain-1m.pt", torch_zip(chain))

# The same bypass through OrderedDict: REDUCE left the new dict's depth at 0 whatever it held.
# Each round, OrderedDict([('k', prev)]) becomes the next prev (memo 2); everything stays on the
# stack inside one MARK and ends as one tuple (no POP: the reader before the fix had none).
# 300,000 rounds: freeing the chain recursed 900,000 destructor calls deep (SIGSEGV).
od = b"\x80\x02(ccollections\nOrderedDict\nq\x01]q\x02"
od += b"h\x01]X\x01\x00\x00\x00kh\x02\x86a\x85Rq\x02" * 300_000
od += b"t."
write("torch_zip", "pickle-ordereddict-depth.pt", torch_zip(od))

# OrderedDict(pairs) on the same list again and again: each copies the list's 20,000 pairs, so
# a few hundred bytes asked for 640 MB (1,000 dicts).
q = b"\x80\x02(ccollections\nOrderedDict\nq\x01]q\x02(" + b"X\x01\x00\x00\x00kK\x00\x86" * 20000 + b"e"
q += b"h\x01h\x02\x85R" * 1000 + b"t."
write("torch_zip", "pickle-ordereddict-quadratic.pt", torch_zip(q))

# A zip bomb: storage 0 is recorded as 4 floats (16 bytes) but its entry inflates to 100 MB of
# zeros (100 KB deflated). Stated honestly it is refused from the central directory; with the
# stated size patched to 16 it is read 17 bytes far and refused as longer than stated.
tensor_pickle = (b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02"
                 b"ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04"
                 b"ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x04tq\x08"
                 b"QK\x00K\x04\x85K\x01\x85\x89h\x00)Rtq\tRq\ns.")
bomb = torch_zip(tensor_pickle, {"0": b"\x00" * (100 << 20)})
write("torch_zip", "zip-bomb-storage-100m.pt", bomb)
write("torch_zip", "zip-bomb-storage-100m-stated-16.pt", patch_central_size(bomb, "data/0", 16))

# --- torch_legacy: the memo chain in a legacy torch.save stream ----------------------------------
magic = bytes([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e])
legacy = (magic + b"\x80\x02M\xe9\x03." + b"\x80\x02}q\x00." + b"\x80\x02]q\x00" + b"h\x00]q\x00ab" * 4096 + b"."
          + b"\x80\x02]q\x00.")  # then the (empty) storage key list
write("torch_legacy", "pickle-memo-chain-4k.legacy.pt", legacy)

# --- pickle: the chain and a list that holds itself ---------------------------------------------
write("pickle", "memo-chain-4k.pkl", b"\x80\x02]q\x00" + b"h\x00]q\x00ab" * 4096 + b".")
write("pickle", "list-holds-itself.pkl", b"\x80\x02]q\x00h\x00a.")

# --- image --------------------------------------------------------------------------------------
# A 52-byte Radiance header claiming 17000 x 17000: 1.3 GB before the HDR decoder was left out.
hdr = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 17000 +X 17000\n"
write("image", "radiance-hdr-17000x17000.hdr", hdr[:52].ljust(52, b"\n"))


def png(width, height, bit_depth, color_type, idat):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# 16-bit RGB, 7000 x 7000, all its rows present (deflated ~1000:1 to 285 KB): about 600 MB to
# decode, as the 1.57 MB file of 16384 x 16384 took 3.15 GB. Refused from the header now.
c = zlib.compressobj(9)
row = b"\x00" * (7000 * 6 + 1)
rows = b"".join(c.compress(row) for _ in range(7000)) + c.flush()
write("image", "png-16bit-rgb-7000x7000.png", png(7000, 7000, 16, 2, rows))
# 8192 x 8192 16-bit RGBA: within the pixel cap, past the decoded-bytes cap
write("image", "png-16bit-rgba-8192x8192.png", png(8192, 8192, 16, 6, zlib.compress(b"\x00" * 4096, 9)))

# --- idx ----------------------------------------------------------------------------------------
# A header claiming 2^31-1 images of 28x28 and 16 MB of zeros behind it, gzipped (about 16 KB):
# the whole file used to be inflated before the header was looked at, even for one image.
body = struct.pack(">IIII", 0x803, 0x7FFFFFFF, 28, 28) + b"\x00" * (16 << 20)
write("idx", "gzip-claims-2g-images.idx.gz", gzip.compress(body, 9, mtime=0))
# Labels: a count of 2^32-1 with 16 MB of data
write("idx", "gzip-labels-claim-4g.idx.gz", gzip.compress(struct.pack(">II", 0x801, 0xFFFFFFFF) + b"\x00" * (16 << 20), 9, mtime=0))

print("wrote", sum(1 for _ in reg.rglob("*") if _.is_file()), "files under", reg)
