#!/usr/bin/python3
"""PyTorch side of bench/run.sh: the same models, data and recipes as the hourglass graphs it is timed against.

  --model ae          graphs/mnist_ae1000.graph: 784-1000-784, sigmoid code and output, BCE (mean over all
                      elements), SGD 0.1 momentum 0.9, batch 128 (also the batch-1 and batch-16 runs: --batch)
  --model denoising   bench/graphs/ae1000_denoising.graph: the same with 30% masking noise on the input
  --model classifier  bench/graphs/classifier3x1000.graph: 784-1000-1000-1000-10 sigmoid, softmax
                      cross-entropy on the labels, SGD 0.05 momentum 0.9, batch 128
  --model conv        bench/graphs/conv_ae.graph: conv 3x3/2 (16) relu, conv 3x3/2 (32) relu, transposed conv
                      4x4/2 (16) relu, transposed conv 4x4/2 (1) sigmoid, BCE, Adam 0.002, batch 128
  --model vae         graphs/gallery/vae.graph, the recipe of PyTorch's own VAE example: 784-400-(20, 20)-400-784,
                      relu, sigmoid output, z = mu + exp(logvar / 2) eps while training (mu in evaluation), BCE
                      summed over the pixels + KL(N(mu, sigma) || N(0, I)); per sample (the example sums over
                      the batch too: the same gradients up to a factor Adam divides out, and hourglass's loss
                      is per sample), Adam 0.001, batch 128

Like hourglass's `train`: MNIST from the raw IDX files in data/mnist/ scaled by 1/255, reshuffled every epoch,
the last partial batch dropped, an epoch's seconds cover only its training steps (the test evaluation comes
after the clock stops), the epoch's train loss is the mean of its per-step losses. Weights start
Glorot-uniform and biases at zero, as in hourglass (--init torch keeps PyTorch's defaults), so the losses of the
two sides are comparable; the random streams differ, so they agree only statistically.

Also records each step's seconds (the per-step median of the batch-1/16 runs), the time from process start to
the end of the first step (and prints BENCH_FIRST_STEP_DONE on stderr at that moment, so a parent can time
it from outside exactly as it times hourglass), peak RSS, and which BLAS and OpenBLAS kernel ran.
Run with Debian's interpreter in its best configuration (bench/run.py does this):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \\
      /usr/bin/python3 bench/pytorch_bench.py --model ae --epochs 2 --threads 2
Prints one JSON line at the end (progress goes to stderr).
"""
import time

_T0 = time.perf_counter()

import argparse
import json
import os
import resource
import statistics
import sys

import numpy as np

sys.dont_write_bytecode = True  # no bench/__pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_ae import REPO, blas_info, load_mnist, seconds_since_process_start  # noqa: E402

DEFAULTS = {  # model: (lr, momentum, optimizer)
    "ae": (0.1, 0.9, "sgd"), "denoising": (0.1, 0.9, "sgd"), "classifier": (0.05, 0.9, "sgd"),
    "conv": (0.002, None, "adam"), "vae": (0.001, None, "adam"),
}


def vae_class():
    """The model of PyTorch's VAE example, sampling z only in training mode; a class made after the deferred
    import of torch (the start-up figure times that import)."""
    import torch
    import torch.nn as nn

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
            self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, x):
            h1 = torch.relu(self.fc1(x))
            mu, logvar = self.fc21(h1), self.fc22(h1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
            return torch.sigmoid(self.fc4(torch.relu(self.fc3(z)))), mu, logvar

    return VAE


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(DEFAULTS), default="ae")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--momentum", type=float, default=None)
    parser.add_argument("--init", choices=("glorot", "torch"), default="glorot")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N samples of each dataset")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--autocast", choices=("bf16",), default=None,
                        help="run forward (and so backward) under torch.autocast('cpu', dtype=torch.bfloat16)")
    parser.add_argument("--data-dir", default=os.environ.get("HOURGLASS_DATA", os.path.join(REPO, "data")))
    args = parser.parse_args()
    lr, momentum, optimizer_kind = DEFAULTS[args.model]
    lr = args.lr if args.lr is not None else lr
    momentum = args.momentum if args.momentum is not None else momentum

    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    VAE = vae_class()

    t_import = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train_x, test_x, train_y, test_y = (torch.from_numpy(a) for a in load_mnist(args.data_dir, args.limit, True))
    if args.model == "conv":
        train_x, test_x = train_x.view(-1, 1, 28, 28), test_x.view(-1, 1, 28, 28)
    t_data = time.perf_counter()

    if args.model in ("ae", "denoising"):
        model = nn.Sequential(nn.Linear(784, 1000), nn.Sigmoid(), nn.Linear(1000, 784), nn.Sigmoid())
    elif args.model == "classifier":
        model = nn.Sequential(nn.Linear(784, 1000), nn.Sigmoid(), nn.Linear(1000, 1000), nn.Sigmoid(),
                              nn.Linear(1000, 1000), nn.Sigmoid(), nn.Linear(1000, 10))
    elif args.model == "vae":
        model = VAE()
    else:
        model = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
                              nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                              nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
                              nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1), nn.Sigmoid())
    if args.init == "glorot":
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
    if optimizer_kind == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)

    def loss_of(x, y, reduction="mean"):
        if args.model == "vae":
            recon, mu, logvar = model(x)
            loss = (F.binary_cross_entropy(recon, x, reduction="sum") -
                    0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()))
            return (loss / x.shape[0] if reduction == "mean" else loss), None
        if args.model == "classifier":
            logits = model(x)
            return F.cross_entropy(logits, y, reduction=reduction), logits
        inp = x
        if args.model == "denoising" and model.training:
            inp = x * (torch.rand_like(x) >= 0.3)
        return F.binary_cross_entropy(model(inp), x, reduction=reduction), None

    generator = torch.Generator().manual_seed(args.seed)
    n = train_x.shape[0]
    steps = n // args.batch
    if steps == 0:
        sys.exit(f"--limit {n} is smaller than one batch of {args.batch}")
    startup_script = time.perf_counter() - _T0
    startup_process = seconds_since_process_start()

    first_step = None
    epoch_seconds, train_losses, step_medians, all_steps = [], [], [], []
    model.train()
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        loss_sum, step_times = 0.0, []
        for b in range(steps):
            t_step = time.perf_counter()
            idx = order[b * args.batch:(b + 1) * args.batch]
            x, y = train_x.index_select(0, idx), train_y.index_select(0, idx)
            if args.autocast:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss, _ = loss_of(x, y)
                loss = loss.float()
            else:
                loss, _ = loss_of(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            now = time.perf_counter()
            step_times.append(now - t_step)
            if first_step is None:
                first_step = now
                print("BENCH_FIRST_STEP_DONE", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - start
        epoch_seconds.append(seconds)
        train_losses.append(loss_sum / steps)
        step_medians.append(statistics.median(step_times))
        all_steps.append(step_times)
        print(f"epoch {epoch}  train loss {train_losses[-1]:.6f}  {seconds:.2f}s  {steps * args.batch / seconds:.0f}"
              f" samples/s  step median {step_medians[-1] * 1e3:.3f} ms", file=sys.stderr, flush=True)

    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, test_x.shape[0], args.batch):
            x, y = test_x[i:i + args.batch], test_y[i:i + args.batch]
            loss, logits = loss_of(x, y, reduction="sum")
            total += loss.item()
            if logits is not None:
                correct += int((logits.argmax(1) == y).sum())
            count += x.shape[0] if args.model in ("classifier", "vae") else x.numel()
    test_loss = total / count if count else None

    proc_start_to_first = None
    if startup_process is not None and first_step is not None:
        proc_start_to_first = startup_process + (first_step - _T0) - startup_script
    result = {
        "framework": "pytorch", "model": args.model, "init": args.init, "optimizer": optimizer_kind, "lr": lr,
        "momentum": momentum, "epochs": args.epochs, "threads": args.threads, "batch": args.batch, "samples": n,
        "steps_per_epoch": steps,
        "epoch_seconds": [round(s, 5) for s in epoch_seconds],
        "step_median_seconds": [round(s, 7) for s in step_medians],
        "train_losses": [round(v, 8) for v in train_losses],
        "final_train_loss": round(train_losses[-1], 8) if train_losses else None,
        "test_loss": round(test_loss, 8) if test_loss is not None else None,
        "test_accuracy": round(correct / test_x.shape[0], 5) if args.model == "classifier" else None,
        "startup_seconds": round(startup_process if startup_process is not None else startup_script, 3),
        "process_start_to_first_step_end": round(proc_start_to_first, 4) if proc_start_to_first else None,
        "startup_breakdown": {"import_torch": round(t_import - _T0, 3), "data": round(t_data - t_import, 3),
                              "in_script": round(startup_script, 3),
                              "first_step": round(all_steps[0][0], 4) if all_steps else None},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "blas": blas_info(torch),
        "mkldnn": {"available": torch.backends.mkldnn.is_available(),
                   "enabled": torch.backends.mkldnn.enabled},
        "torch_config": torch.__config__.show(),
        "torch_parallel_info": torch.__config__.parallel_info(),
        "torch_version": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
