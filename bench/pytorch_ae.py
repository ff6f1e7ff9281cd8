#!/usr/bin/python3
"""PyTorch side of the hourglass benchmark: the same autoencoder, data and recipe as graphs/mnist_ae1000.graph.

  784 -> hidden (sigmoid, or relu with --code-activation relu) -> 784 (sigmoid), binary cross-entropy averaged
  over all elements, SGD lr 0.1 momentum 0.9, batch 128, reshuffled every epoch, last partial batch dropped,
  MNIST train images scaled by 1/255 read from the raw IDX files in data/mnist/ (scripts/fetch-data.sh).

Measured like hourglass's `train` verb: an epoch's seconds cover only the training steps (the test evaluation
comes after the clock stops), and the train loss of an epoch is the mean of its per-step losses.

Run it with Debian's interpreter and its best configuration on this machine (bench/compare.sh does this):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \
      /usr/bin/python3 bench/pytorch_ae.py --epochs 2 --threads 2
Prints one JSON line at the end (progress goes to stderr).
"""
import time

_T0 = time.perf_counter()  # as early as possible; the process start itself comes from /proc (below)

import argparse
import ctypes
import json
import os
import re
import resource
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def seconds_since_process_start():
    """Wall time since the kernel started this process (10 ms resolution: /proc clock ticks)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 (starttime); fields[0] is field 3
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def read_idx_images(path, limit=None):
    """Raw IDX3 (big-endian 16-byte header: magic 0x00000803, count, rows, cols), scaled to [0,1] float32."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(16), dtype=">u4")
        if header[0] != 0x803:
            sys.exit(f"{path}: not an IDX3 image file (magic {header[0]:#x})")
        count, rows, cols = (int(v) for v in header[1:])
        if limit is not None:
            count = min(count, limit)
        pixels = np.frombuffer(f.read(count * rows * cols), dtype=np.uint8)
    if pixels.size != count * rows * cols:
        sys.exit(f"{path}: truncated")
    return (pixels.reshape(count, rows * cols).astype(np.float32) * np.float32(1.0 / 255.0))


def read_idx_labels(path, limit=None):
    """Raw IDX1 labels (big-endian 8-byte header: magic 0x00000801, count) as int64."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(8), dtype=">u4")
        if header[0] != 0x801:
            sys.exit(f"{path}: not an IDX1 label file (magic {header[0]:#x})")
        count = int(header[1]) if limit is None else min(int(header[1]), limit)
        return np.frombuffer(f.read(count), dtype=np.uint8).astype(np.int64)


def load_mnist(data_dir, limit=None, labels=False):
    """MNIST's train and test images (and labels when asked) from DATA_DIR/mnist, as numpy arrays."""
    mnist = os.path.join(data_dir, "mnist")
    out = [read_idx_images(os.path.join(mnist, f"{split}-images-idx3-ubyte"), limit) for split in ("train", "t10k")]
    if labels:
        out += [read_idx_labels(os.path.join(mnist, f"{split}-labels-idx1-ubyte"), limit) for split in ("train", "t10k")]
    return out


def loaded_libraries(pattern_words):
    """Paths of the shared libraries mapped into this process whose file name contains one of the words."""
    found = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[5].startswith("/"):
                    path = parts[5]
                    name = os.path.basename(path).lower()
                    if any(w in name for w in pattern_words) and path not in found:
                        found.append(path)
    except OSError:
        pass
    return found


def blas_info(torch):
    """Which BLAS PyTorch calls and which OpenBLAS kernel (core type) it picked."""
    info = {}
    config = torch.__config__.show()
    for key in ("BLAS_INFO", "LAPACK_INFO"):
        match = re.search(key + r"=([^,\s]+)", config)
        if match:
            info[key.lower()] = match.group(1)
    libs = loaded_libraries(("blas", "lapack", "mkl", "dnnl", "gomp", "omp"))
    info["loaded"] = [os.path.realpath(p) for p in libs]
    # Ask OpenBLAS itself (any of its libraries exports the symbol; prefer libopenblas*.so).
    for path in sorted(libs, key=lambda p: "openblas" not in os.path.basename(p)):
        try:
            lib = ctypes.CDLL(path)
            get_corename = lib.openblas_get_corename
        except (OSError, AttributeError):
            continue
        get_corename.restype = ctypes.c_char_p
        info["openblas_library"] = os.path.realpath(path)
        info["openblas_corename"] = get_corename().decode()
        try:
            get_config = lib.openblas_get_config
            get_config.restype = ctypes.c_char_p
            info["openblas_config"] = get_config().decode().strip()
        except AttributeError:
            pass
        try:
            info["openblas_num_threads"] = int(lib.openblas_get_num_threads())
        except AttributeError:
            pass
        break
    info["env"] = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                                                 "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=1000)
    parser.add_argument("--code-activation", choices=("sigmoid", "relu"), default="sigmoid")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N samples of each dataset")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=os.environ.get("HOURGLASS_DATA", os.path.join(REPO, "data")))
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    t_import = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train_x, test_x = (torch.from_numpy(a) for a in load_mnist(args.data_dir, args.limit))
    t_data = time.perf_counter()

    code_activation = torch.sigmoid if args.code_activation == "sigmoid" else torch.relu

    class AE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.code = torch.nn.Linear(784, args.hidden)
            self.recon = torch.nn.Linear(args.hidden, 784)

        def forward(self, x):
            return torch.sigmoid(self.recon(code_activation(self.code(x))))

    model = AE()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    generator = torch.Generator().manual_seed(args.seed)
    n = train_x.shape[0]
    steps = n // args.batch  # drop the last partial batch
    if steps == 0:
        sys.exit(f"--limit {n} is smaller than one batch of {args.batch}")

    startup_script = time.perf_counter() - _T0
    startup_process = seconds_since_process_start()

    epoch_seconds, train_losses = [], []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        loss_sum = 0.0
        for b in range(steps):
            x = train_x.index_select(0, order[b * args.batch:(b + 1) * args.batch])
            loss = F.binary_cross_entropy(model(x), x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
        seconds = time.perf_counter() - start
        epoch_seconds.append(seconds)
        train_losses.append(loss_sum / steps)
        print(f"epoch {epoch}  train bce {train_losses[-1]:.6f}  {seconds:.2f}s  {steps * args.batch / seconds:.0f} samples/s",
              file=sys.stderr, flush=True)

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, test_x.shape[0], args.batch):
            x = test_x[i:i + args.batch]
            total += F.binary_cross_entropy(model(x), x, reduction="sum").item()
            count += x.numel()
    test_loss = total / count if count else None

    median = sorted(epoch_seconds)[len(epoch_seconds) // 2] if len(epoch_seconds) % 2 else \
        sum(sorted(epoch_seconds)[len(epoch_seconds) // 2 - 1:len(epoch_seconds) // 2 + 1]) / 2
    result = {
        "framework": "pytorch",
        "model": f"784-{args.hidden}-784 {args.code_activation} code, sigmoid output, bce mean",
        "epochs": args.epochs, "threads": args.threads, "batch": args.batch, "samples": n, "steps_per_epoch": steps,
        "epoch_seconds": [round(s, 4) for s in epoch_seconds],
        "samples_per_second": round(steps * args.batch / median, 1) if epoch_seconds else None,
        "train_losses": [round(v, 8) for v in train_losses],
        "final_train_loss": round(train_losses[-1], 8) if train_losses else None,
        "test_loss": round(test_loss, 8) if test_loss is not None else None,
        "startup_seconds": round(startup_process if startup_process is not None else startup_script, 3),
        "startup_breakdown": {"import_torch": round(t_import - _T0, 3), "data": round(t_data - t_import, 3),
                              "in_script": round(startup_script, 3)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "blas": blas_info(torch),
        "torch_version": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
