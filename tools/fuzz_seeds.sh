#!/usr/bin/env bash
# Assembles the seed corpus of every fuzz target (tests/fuzz/) in OUT/<target>/ from the
# repository's fixtures: checkpoints of the three layouts in every file kind, their data.pkl
# pickles, models converted from them, images in every decoder's format, small IDX files raw
# and gzipped, and a few generator inputs. Used by the test suite (replayed) and tools/fuzz.sh.
#   tools/fuzz_seeds.sh OUT CAPSCONV
set -euo pipefail
out=$1
capsconv=$2
root=$(cd "$(dirname "$0")/.." && pwd)
ck=$root/tests/data/checkpoints
rm -rf "$out"
mkdir -p "$out"/{model,model_shapes,torch_zip,torch_legacy,safetensors,pickle,convert,image,idx,npy,keras_h5}
cp "$root"/tests/data/keras/*.h5 "$root"/tests/data/keras/bad/*.h5 "$out/keras_h5/"

for f in "$ck"/*.pt; do
  case $f in
    *.legacy.pt) cp "$f" "$out/torch_legacy/" ;;
    *) cp "$f" "$out/torch_zip/" ;;
  esac
done
cp "$ck"/*.safetensors "$out/safetensors/"
# the pickles inside the torch zip archives
python3 - "$out/torch_zip" "$out/pickle" <<'PY'
import sys, zipfile, pathlib
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for f in sorted(src.iterdir()):
    try:
        z = zipfile.ZipFile(f)
        for n in z.namelist():
            if n.endswith("data.pkl") or n.endswith("constants.pkl"):
                (dst / (f.stem + "." + pathlib.Path(n).name)).write_bytes(z.read(n))
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError):
        pass
PY
# the legacy files' pickles start after the magic number: the whole file is a fine seed too
cp "$ck"/*.legacy.pt "$out/pickle/"
# models: the three layouts converted for the fixtures' tiny architecture
for f in tiny_xifengguo.pt tiny_flat5d.safetensors tiny_gram-ai.pt; do
  "$capsconv" -q "$ck/$f" --arch "$ck/tiny_arch.json" -o "$out/model/${f%%.*}.caps"
done
# an EM model (yl-1993's layout, docs/em-routing.md)
"$capsconv" -q "$root/tests/data/em/tiny_em.pt" --input 1x20x20 -o "$out/model/tiny_em.caps"
cp "$root"/tests/data/em/*.pt "$out/torch_zip/"
cp "$root"/tests/data/images/*.{png,bmp,pgm,jpg} "$out/image/"
# IDX: 2 images of 2x3 and 3 labels, raw and gzipped
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x03\x00\x14\x28\x3c\x50\x64\x78\x8c\xa0\xb4\xc8\xdc' > "$out/idx/images.idx"
printf '\x00\x00\x08\x01\x00\x00\x00\x03\x07\x02\x01' > "$out/idx/labels.idx"
gzip -c -n "$out/idx/images.idx" > "$out/idx/images.idx.gz"
gzip -c -n "$out/idx/labels.idx" > "$out/idx/labels.idx.gz"
# .npy: uint8 and float32 arrays in format versions 1.0 and 2.0, written as numpy.save writes them
python3 - "$out/npy" <<'PY'
import struct, sys, pathlib
out = pathlib.Path(sys.argv[1])
def npy(name, major, descr, shape, data):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    prefix = 10 if major == 1 else 12
    h += " " * ((-(prefix + len(h) + 1)) % 64) + "\n"
    size = struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))
    (out / name).write_bytes(b"\x93NUMPY" + bytes([major, 0]) + size + h.encode() + data)
npy("stack_u8.npy", 1, "|u1", (2, 1, 2, 3), bytes(range(12)))
npy("one_f32.npy", 2, "<f4", (1, 2, 2), struct.pack("<4f", 0.0, 0.5, 1.0, -1.0))
npy("vector_f32.npy", 1, "<f4", (3,), struct.pack("<3f", 1.0, 2.0, 3.0))
PY
# generator inputs (model_shapes.hpp, fuzz_convert.cpp): small models and each fixture as is
printf '\x00\x0b\x0b\x03\x02\x00\x00\x07\x02\x01\x00\x03\x02\x04\x07\x00\x00' > "$out/model_shapes/small"
printf '\x02\x1b\x1b\x0f\x08\x00\x00\x1f\x08\x01\x00\x07\x09\x0f\x0f\x33\x11' > "$out/model_shapes/mnist_like"
for k in 0 1 2 3 4 5 6 7; do printf "\\x0$k\\x00\\x00\\x00" > "$out/convert/fixture$k"; done
printf '\x00\x01\x00\x00' > "$out/convert/small_arch"
echo "seeds: $(find "$out" -type f | wc -l) files in $out"
