"""For bench/tflite-sweep.sh: runs every .tflite file of a folder in ArmNN's TFLite runtime (CpuRef) on
random inputs and writes, per model, WORK/<model>/<tensor>.npy for each input and output; or
WORK/<model>/armnn-error.txt when ArmNN cannot run it. Inputs: float N(0, 1), quantized types uniform over
their range, int32/int64 in 0..3 (token ids and indices of small tables), bool random.

Each model runs in a process of its own, since ArmNN kills the process on some files (SIGFPE, failed
assertions) instead of refusing them.

Usage: /usr/bin/python3 bench/tflite_armnn_outputs.py FOLDER WORK
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../plugins/tflite/src/test/fixtures"))
from make_tflite_op_fixtures import armnn_outputs  # noqa: E402

RNG = np.random.default_rng(7)
# armnn::DataType: Float32, QAsymmU8, Signed32, Boolean, QSymmS16, QSymmS8, QAsymmS8
ARMNN_TYPES = {1: np.float32, 2: np.uint8, 3: np.int32, 4: np.bool_, 5: np.int16, 7: np.int8, 8: np.int8}


def inputs(path):
    """Random arrays for the model's inputs, shaped and typed as ArmNN's parser reads them."""
    import pyarmnn as ann
    parser = ann.ITfLiteParser()
    parser.CreateNetworkFromBinaryFile(path)
    feeds = {}
    for name in parser.GetSubgraphInputTensorNames(0):
        info = parser.GetNetworkInputBindingInfo(0, name)[1]
        shape = [info.GetShape()[i] for i in range(info.GetNumDimensions())]
        dtype = ARMNN_TYPES.get(int(info.GetDataType()), np.float32)
        if dtype == np.float32:
            feeds[name] = RNG.standard_normal(shape).astype(np.float32)
        elif dtype == np.int32:
            feeds[name] = RNG.integers(0, 4, shape).astype(np.int32)
        elif dtype == np.bool_:
            feeds[name] = RNG.integers(0, 2, shape).astype(np.bool_)
        else:
            limits = np.iinfo(dtype)
            feeds[name] = RNG.integers(limits.min, limits.max + 1, shape).astype(dtype)
    return feeds


def run_one(path, out):
    """One model, in its own process: ArmNN aborts or raises SIGFPE on some files it cannot run."""
    feeds, results, why = {}, None, None
    try:
        feeds = inputs(path)
        results, why = armnn_outputs(path, feeds, False)
    except Exception as e:  # ArmNN's parser refuses the file
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
    if results is None:
        with open(os.path.join(out, "armnn-error.txt"), "w") as f:
            f.write(why.split("  at function")[0].split(" at function")[0] + "\n")  # without ArmNN's source place
        return
    # arrays.tsv: role, tensor name, file (tensor names may hold characters a file name cannot)
    rows = []
    for k, (role, name, array) in enumerate([("input", n, a) for n, a in feeds.items()]
                                            + [("output", n, a) for n, a in results.items()]):
        np.save(os.path.join(out, f"{k}.npy"), np.ascontiguousarray(array))
        rows.append(f"{role}\t{name}\t{k}.npy")
    with open(os.path.join(out, "arrays.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")


def main(folder, work):
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".tflite"):
            continue
        out = os.path.join(work, file[:-len(".tflite")])
        os.makedirs(out, exist_ok=True)
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", os.path.join(folder, file), out],
                              stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        if done.returncode != 0 and not os.path.exists(os.path.join(out, "armnn-error.txt")):
            with open(os.path.join(out, "armnn-error.txt"), "w") as f:
                code = done.returncode
                f.write(f"crashed ({'signal ' + str(-code) if code < 0 else 'exit ' + str(code)})\n")


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        run_one(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1], sys.argv[2])
