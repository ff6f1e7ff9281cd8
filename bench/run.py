#!/usr/bin/python3
"""hourglass against PyTorch on every model of issue 5, in one interleaved run (bench/run.sh calls this).

Cases (hourglass graph / PyTorch twin in bench/pytorch_bench.py, same data, recipe and batch):
  ae1000      graphs/mnist_ae1000.graph               784-1000-784 sigmoid AE, BCE, SGD 0.1/0.9, batch 128
  denoising   bench/graphs/ae1000_denoising.graph     the same with 30% masking noise on the input
  classifier  bench/graphs/classifier3x1000.graph     784-1000-1000-1000-10 sigmoid, softmax CE, SGD 0.05/0.9
  conv        bench/graphs/conv_ae.graph              the conv AE of graphs/gallery/conv_mnist.graph, Adam
  vae         graphs/gallery/vae.graph                784-400-20-400-784 VAE (PyTorch's VAE example), Adam 1e-3
  ae1000_bf16 graphs/mnist_ae1000.graph, --precision bf16 against PyTorch's bf16 autocast, where the CPU has bf16
  ae1000_b16  graphs/mnist_ae1000.graph, batch 16     on the first --b16-limit samples (step time)
  ae1000_b1   graphs/mnist_ae1000.graph, batch 1      on the first --b1-limit samples (step time)
  startup     1-step runs (--limit = one batch of 128) of ae1000 on both sides, timed from outside

For each of R repeats it runs every case on hourglass, then on PyTorch (A B A B ...), then the start-up pair,
then bench/gemm_floor (oneDNN on the exact GEMM/convolution shapes of every case). Per repeat and case it
reports the median epoch time of each side (epochs 2.. when there are 3 or more), their ratio, samples/s,
peak RSS (wait4 of the process), and the losses after the last epoch; then medians over the repeats.

Start-up is measured identically on both sides, from outside: the parent takes a timestamp, starts the process
with its stderr on a pseudo-terminal, and takes a second one when the first-step report arrives (hourglass's
live progress line "step 1/1", printed after the first step because it is also the last of the epoch; PyTorch's
BENCH_FIRST_STEP_DONE). It covers exec, library loading, reading the data (one batch), graph load and plan or
import and model build, and the first step.

PyTorch runs as issue 5 prescribes: /usr/bin/python3, OPENBLAS_NUM_THREADS=T, OMP_WAIT_POLICY=PASSIVE, with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset. hourglass runs as a user runs it: the runner uses
OMP_WAIT_POLICY=passive and GOMP_SPINCOUNT=1000 unless the environment sets them (docs/threading.md), so
this script passes neither; gemm_floor gets the same two explicitly, so that the floor waits for its threads
exactly as hourglass's GEMMs do.

Writes OUT_DIR/benchmark.md (table and machine description), benchmark.png (bar chart) and benchmark.json
(every raw measurement). Every number in them comes from this run.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---- the cases ------------------------------------------------------------------------------------------

def dense_ops(layers, batch):
    """GEMMs of one training step of a stack of dense layers [(in, out), ...]: forward, backward-data (not for
    the first layer: nothing needs the gradient of the input) and backward-weights, as gemm_floor lines."""
    ops = []
    for i, (k, n) in enumerate(layers):
        ops.append(f"dense fwd {batch} {k} {n}")
        if i > 0:
            ops.append(f"dense bwd_data {batch} {k} {n}")
        ops.append(f"dense bwd_weights {batch} {k} {n}")
    return ops


def conv_ops(batch):
    """The conv AE: conv 1->16 on 28x28, conv 16->32 on 14x14 (3x3, stride 2, pad 1), deconv 32->16 on 7x7,
    deconv 16->1 on 14x14 (4x4, stride 2, pad 1)."""
    layers = [("conv", 1, 28, 16, 3), ("conv", 16, 14, 32, 3), ("deconv", 32, 7, 16, 4), ("deconv", 16, 14, 1, 4)]
    ops = []
    for i, (kind, c, hw, oc, k) in enumerate(layers):
        shape = f"{batch} {c} {hw} {hw} {oc} {k} 2 1"
        ops.append(f"{kind} fwd {shape}")
        if i > 0:
            ops.append(f"{kind} bwd_data {shape}")
        ops.append(f"{kind} bwd_weights {shape}")
    return ops


AE = [(784, 1000), (1000, 784)]
# The VAE: h from x, mu and logvar from h (both pass a gradient back to h), the decoder from z.
VAE = [(784, 400), (400, 20), (400, 20), (20, 400), (400, 784)]


def make_cases(a):
    full = a.limit
    return [
        dict(name="ae1000", title="784-1000-784 sigmoid AE, batch 128", graph="graphs/mnist_ae1000.graph",
             model="ae", batch=128, limit=full, epochs=a.epochs, kind="epoch", ops=dense_ops(AE, 128)),
        dict(name="denoising", title="same, denoising (30% masking)", graph="bench/graphs/ae1000_denoising.graph",
             model="denoising", batch=128, limit=full, epochs=a.epochs, kind="epoch", ops=dense_ops(AE, 128)),
        dict(name="classifier", title="784-1000-1000-1000-10 classifier fine-tuning, batch 128",
             graph="bench/graphs/classifier3x1000.graph", model="classifier", batch=128, limit=full,
             epochs=a.epochs, kind="epoch",
             ops=dense_ops([(784, 1000), (1000, 1000), (1000, 1000), (1000, 10)], 128)),
        dict(name="conv", title="conv AE (2 conv + 2 deconv), Adam, batch 128", graph="bench/graphs/conv_ae.graph",
             model="conv", batch=128, limit=a.conv_limit or full, epochs=a.epochs, kind="epoch", ops=conv_ops(128)),
        dict(name="vae", title="784-400-20-400-784 VAE, Adam, batch 128", graph="graphs/gallery/vae.graph",
             model="vae", batch=128, limit=full, epochs=a.epochs, kind="epoch", ops=dense_ops(VAE, 128)),
        dict(name="ae1000_bf16", title="784-1000-784 sigmoid AE, batch 128, bf16 (PyTorch: bf16 autocast)",
             graph="graphs/mnist_ae1000.graph", model="ae", batch=128, limit=full, epochs=a.epochs, kind="epoch",
             ops=dense_ops(AE, 128), precision="bf16"),
        dict(name="ae1000_b16", title="784-1000-784 AE, batch 16", graph="graphs/mnist_ae1000.graph", model="ae",
             batch=16, limit=a.b16_limit, epochs=a.step_epochs, kind="step", ops=dense_ops(AE, 16)),
        dict(name="ae1000_b1", title="784-1000-784 AE, batch 1", graph="graphs/mnist_ae1000.graph", model="ae",
             batch=1, limit=a.b1_limit, epochs=a.step_epochs, kind="step", ops=dense_ops(AE, 1)),
    ]


# ---- running processes ----------------------------------------------------------------------------------

def run_process(cmd, env, stdout_path, stderr_path, marker=None):
    """Runs cmd in the repository; returns wall seconds, peak RSS (MB, from wait4), exit code and, with a
    marker, the seconds from just before the fork until the marker arrived on its stderr (a pseudo-terminal)."""
    master = slave = None
    if marker:
        master, slave = os.openpty()
    t0 = time.perf_counter()
    with open(stdout_path, "wb") as out:
        err = slave if marker else open(stderr_path, "wb")
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO)
        if marker:
            os.close(slave)
        else:
            err.close()
    t_marker = None
    if marker:
        buf = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            if t_marker is None and marker in (buf[-len(marker):] + chunk):
                t_marker = time.perf_counter() - t0
            buf += chunk
        os.close(master)
        with open(stderr_path, "wb") as f:
            f.write(buf)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    return dict(wall=wall, rss_mb=usage.ru_maxrss / 1024.0, rc=proc.returncode, marker_seconds=t_marker,
                user=usage.ru_utime, sys=usage.ru_stime)


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def snapshot_hourglass(a, work):
    """Copies the runner and its built-in plugins (lib/hourglass/plugins next to bin/, where it looks for them)
    into the work folder, so that every run of the benchmark uses the same build even if build/ is rebuilt
    meanwhile. Waits and retries while the binary is missing or does not start (someone is rebuilding)."""
    src_bin = os.path.join(REPO, a.hourglass)
    src_lib = os.path.join(os.path.dirname(os.path.dirname(src_bin)), "lib", "hourglass")
    dst_bin = os.path.join(work, "hourglass", "bin", "hourglass")
    for attempt in range(1, 11):
        try:
            shutil.rmtree(os.path.join(work, "hourglass"), ignore_errors=True)
            os.makedirs(os.path.dirname(dst_bin))
            shutil.copy2(src_bin, dst_bin)
            shutil.copytree(src_lib, os.path.join(work, "hourglass", "lib", "hourglass"))
            p = subprocess.run([dst_bin, "check", "graphs/mnist_ae1000.graph"], cwd=REPO, capture_output=True,
                               text=True, timeout=60)
            if p.returncode == 0:
                return dst_bin
            log(f"snapshot of {src_bin} does not run (attempt {attempt}): {p.stderr.strip()[-300:]}")
        except (OSError, shutil.Error, subprocess.TimeoutExpired) as e:
            log(f"cannot snapshot {src_bin} (attempt {attempt}): {e}")
        time.sleep(30)
    sys.exit(f"bench: {src_bin} kept failing, giving up")


class Runner:
    def __init__(self, a, work):
        self.a, self.work = a, work
        self.hourglass = snapshot_hourglass(a, work) if a.snapshot else os.path.join(REPO, a.hourglass)
        self.binary_hash = file_hash(self.hourglass)
        log(f"hourglass: {self.hourglass} (sha256 {self.binary_hash})")
        self.binaries = set()
        base = dict(os.environ)
        base.pop("OMP_NUM_THREADS", None)
        self.hg_env = base  # the runner's own OpenMP defaults apply unless the caller's environment sets them
        self.pt_env = {k: v for k, v in base.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        self.pt_env.update(OPENBLAS_NUM_THREADS=str(a.threads), OMP_WAIT_POLICY="PASSIVE")

    def hourglass_run(self, tag, case, epochs, limit, marker=None):
        """One `hourglass train`; retries while the binary is missing or failing (the lead may be rebuilding)."""
        metrics = os.path.join(self.work, f"{tag}.jsonl")
        cmd = [self.hourglass, "train", case["graph"], "--set", f"epochs={epochs}", "--set", f"batch={case['batch']}",
               "--threads", str(self.a.threads), "--out", os.path.join(self.work, f"{tag}.safetensors"),
               "--metrics", metrics]
        if limit:
            cmd += ["--limit", str(limit)]
        if case.get("precision"):
            cmd += ["--precision", case["precision"]]
        for attempt in range(1, 7):
            if os.path.exists(metrics):
                os.remove(metrics)
            if os.access(self.hourglass, os.X_OK):
                binary = file_hash(self.hourglass)
                r = run_process(cmd, self.hg_env, os.path.join(self.work, f"{tag}.out"),
                                os.path.join(self.work, f"{tag}.err"), marker)
                if r["rc"] == 0 and os.path.exists(metrics):
                    epochs_done = [json.loads(l) for l in open(metrics) if l.strip()]
                    if len(epochs_done) == epochs:
                        self.binaries.add(binary)
                        r.update(epochs=epochs_done, binary=binary, cmd=" ".join(cmd))
                        return r
                tail = open(os.path.join(self.work, f"{tag}.err"), errors="replace").read()[-400:]
                log(f"hourglass {tag} failed (attempt {attempt}, rc {r['rc']}): {tail.strip()}")
            else:
                log(f"{self.hourglass} missing (attempt {attempt})")
            time.sleep(60)
        sys.exit("bench: hourglass kept failing, giving up")

    def pytorch_run(self, tag, case, epochs, limit, marker=None):
        cmd = [PY, "bench/pytorch_bench.py", "--model", case["model"], "--epochs", str(epochs),
               "--batch", str(case["batch"]), "--threads", str(self.a.threads)]
        if limit:
            cmd += ["--limit", str(limit)]
        if case.get("precision"):
            cmd += ["--autocast", case["precision"]]
        out = os.path.join(self.work, f"{tag}.json")
        r = run_process(cmd, self.pt_env, out, os.path.join(self.work, f"{tag}.err"), marker)
        if r["rc"] != 0:
            sys.stderr.write(open(os.path.join(self.work, f"{tag}.err"), errors="replace").read())
            sys.exit(f"bench: PyTorch run {tag} failed")
        r.update(result=json.loads(open(out).read().strip().splitlines()[-1]), cmd=" ".join(cmd))
        return r

    def gemm_floor(self, tag, lines):
        shapes = os.path.join(self.work, f"{tag}.shapes")
        with open(shapes, "w") as f:
            f.write("\n".join(lines) + "\n")
        env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))
        if "OMP_WAIT_POLICY" not in os.environ:  # the runner's defaults (tools/main.cpp)
            env.setdefault("GOMP_SPINCOUNT", "1000")
        env.pop("OMP_NUM_THREADS", None)
        with open(shapes) as stdin:
            p = subprocess.run([self.a.gemm_floor, "--threads", str(self.a.threads), "--min-time",
                                str(self.a.floor_min_time), "--reps", "5", "--dtypes", "f32,bf16"],
                               stdin=stdin, capture_output=True, text=True, env=env, cwd=REPO)
        if p.returncode != 0:
            sys.exit(f"bench: gemm_floor failed: {p.stderr}")
        rows = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        return dict(header=rows[0]["header"], rows=rows[1:])


# ---- one case's numbers ---------------------------------------------------------------------------------

def case_numbers(case, hg, pt):
    skip = 1 if case["epochs"] >= 3 else 0
    hg_s = [e["seconds"] for e in hg["epochs"]]
    res = pt["result"]
    pt_s = res["epoch_seconds"]
    steps = res["steps_per_epoch"]
    hg_med, pt_med = median(hg_s[skip:]), median(pt_s[skip:])
    last = hg["epochs"][-1]
    return dict(
        hg_epoch=hg_med, pt_epoch=pt_med, ratio=hg_med / pt_med, steps=steps, samples=steps * case["batch"],
        hg_sps=steps * case["batch"] / hg_med, pt_sps=steps * case["batch"] / pt_med,
        hg_step=hg_med / steps, pt_step=pt_med / steps, pt_step_median=median(res["step_median_seconds"][skip:]),
        hg_rss=hg["rss_mb"], pt_rss=pt["rss_mb"],
        hg_train=last["train_loss"], pt_train=res["final_train_loss"],
        hg_test=last.get("test_loss"), pt_test=res["test_loss"],
        hg_acc=last.get("test_accuracy"), pt_acc=res.get("test_accuracy"),
        hg_outside=hg["wall"] - sum(hg_s), pt_outside=pt["wall"] - sum(pt_s),
        hg_epochs=hg_s, pt_epochs=pt_s, binary=hg["binary"])


def floor_for(case, floor_runs, dtype):
    """Per-epoch floor: steps x sum over the case's GEMMs of the best primitive's median time, median over the
    gemm_floor runs. Returns (seconds per step, flops per step, detail) or None when any op is unavailable."""
    per_run = []
    detail = {}
    for fr in floor_runs:
        total = 0.0
        for op in case["ops"]:
            cands = [r for r in fr["rows"] if r["line"] == op and r["dtype"] == dtype and r["status"] == "ok"]
            if not cands:
                return None
            best = min(cands, key=lambda r: r["seconds"])
            detail.setdefault(op, []).append(best)
            total += best["seconds"]
        per_run.append(total)
    flops = 0.0
    for op in case["ops"]:
        flops += detail[op][0]["flops"]
    return dict(step_seconds=median(per_run), step_flops=flops, per_run=per_run,
                ops={op: dict(seconds=median([b["seconds"] for b in bs]), gflops=median([b["gflops"] for b in bs]),
                              primitive=statistics.mode([b["primitive"] for b in bs]),
                              impl=statistics.mode([b["impl"] for b in bs]), flops=bs[0]["flops"])
                     for op, bs in detail.items()})


# ---- machine description --------------------------------------------------------------------------------

def hourglass_info(path):
    """The build and source state of the hourglass being measured, taken when the run starts."""
    info = {}
    try:
        info["hourglass_binary_time"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(path)))
        # What the binary itself says it was built from (stamped at build time), next to the tree's state now.
        info["hourglass_version"] = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()
        info["hourglass_commit"] = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                                  capture_output=True, text=True).stdout.strip()
        info["hourglass_tree_dirty"] = bool(subprocess.run(
            ["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "--", "engine", "tools",
             "plugins"], capture_output=True, text=True).stdout.strip())
    except OSError:
        info.setdefault("hourglass_commit", "?")
    return info


def machine(a, pt_result, floor_header):
    info = {}
    cpuinfo = open("/proc/cpuinfo").read()
    get = lambda key: (re.search(rf"^{key}\s*:\s*(.*)$", cpuinfo, re.M) or [None, "?"])[1]
    info["cpu"] = get("model name")
    info["cpu_family_model"] = f"family {get('cpu family')} model {get('model')} stepping {get('stepping')}"
    info["mhz"] = get("cpu MHz")
    info["cache"] = get("cache size")
    flags = set(get("flags").split())
    interesting = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
                   "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "hypervisor"]
    info["flags"] = {f: f in flags for f in interesting}
    info["logical_cpus"] = os.cpu_count()
    info["cores_per_socket"] = get("cpu cores")
    info["siblings"] = get("siblings")
    try:
        mem = open("/proc/meminfo").read()
        info["memory_gb"] = round(int(re.search(r"MemTotal:\s+(\d+)", mem).group(1)) / 1048576, 1)
    except Exception:
        info["memory_gb"] = None
    info["kernel"] = platform.release()
    try:
        info["os"] = re.search(r'PRETTY_NAME="([^"]*)"', open("/etc/os-release").read()).group(1)
    except Exception:
        info["os"] = "?"

    def dpkg(pkg):
        try:
            return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                                  text=True).stdout.strip() or None
        except OSError:
            return None
    info["packages"] = {p: dpkg(p) for p in ("libdnnl2", "python3-torch", "libopenblas0-pthread",
                                             "libtbb12", "python3-numpy")}
    info["onednn_gemm_floor"] = floor_header
    info["torch"] = dict(version=pt_result["torch_version"], num_threads=pt_result["torch_num_threads"],
                         blas=pt_result["blas"], mkldnn=pt_result["mkldnn"],
                         config=pt_result["torch_config"], parallel=pt_result["torch_parallel_info"])
    # Which OpenBLAS kernel PyTorch's process picks, as OpenBLAS itself reports it at load time.
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(OPENBLAS_VERBOSE="2", OPENBLAS_NUM_THREADS=str(a.threads), OMP_WAIT_POLICY="PASSIVE")
    p = subprocess.run([PY, "-c", "import torch; a = torch.ones(256, 256); (a @ a).sum().item()"],
                       capture_output=True, text=True, env=env)
    info["openblas_verbose"] = " ".join(l.strip() for l in p.stderr.splitlines() if "Core" in l or "core" in l)
    info.update(a.hourglass_info)
    return info


# ---- report ---------------------------------------------------------------------------------------------

def fmt(v, p=3):
    return "n/a" if v is None else f"{v:.{p}f}"


def write_report(a, cases, rounds, startups, floor_runs, mach, started, load_start, load_end, out_dir, binaries):
    summary = {}
    for case in cases:
        per = [r[case["name"]] for r in rounds]
        med = lambda k: median([p[k] for p in per])
        # A bf16 case is measured against the bf16 floor (its "f32" figures below are its own precision's).
        f32 = floor_for(case, floor_runs, case.get("precision", "f32"))
        bf16 = floor_for(case, floor_runs, "bf16")
        s = {k: med(k) for k in per[0] if not isinstance(per[0][k], (list, str))}
        s["per_repeat"] = per
        s["floor_f32"] = f32
        s["floor_bf16"] = bf16
        steps = per[0]["steps"]
        if f32:
            s["floor_epoch"] = f32["step_seconds"] * steps
            s["hg_over_floor"] = s["hg_epoch"] / s["floor_epoch"]
            s["pt_over_floor"] = s["pt_epoch"] / s["floor_epoch"]
            s["hg_gflops"] = f32["step_flops"] * steps / s["hg_epoch"] * 1e-9
            s["pt_gflops"] = f32["step_flops"] * steps / s["pt_epoch"] * 1e-9
            s["floor_gflops"] = f32["step_flops"] / f32["step_seconds"] * 1e-9
            s["gemm_flops_epoch"] = f32["step_flops"] * steps
        summary[case["name"]] = s
    st = dict(hg=median([x["hg"]["marker_seconds"] for x in startups]),
              pt=median([x["pt"]["marker_seconds"] for x in startups]),
              hg_wall=median([x["hg"]["wall"] for x in startups]), pt_wall=median([x["pt"]["wall"] for x in startups]),
              hg_rss=median([x["hg"]["rss_mb"] for x in startups]), pt_rss=median([x["pt"]["rss_mb"] for x in startups]),
              ratios=[x["hg"]["marker_seconds"] / x["pt"]["marker_seconds"] for x in startups],
              pt_internal=median([x["pt"]["result"]["process_start_to_first_step_end"] for x in startups]),
              pt_import=median([x["pt"]["result"]["startup_breakdown"]["import_torch"] for x in startups]),
              pt_first_step=median([x["pt"]["result"]["startup_breakdown"]["first_step"] for x in startups]),
              hg_list=[x["hg"]["marker_seconds"] for x in startups], pt_list=[x["pt"]["marker_seconds"] for x in startups])
    st["ratio"] = median(st["ratios"])

    L = []
    w = L.append
    w("# hourglass vs PyTorch: the issue-5 benchmark")
    w("")
    w(f"Measured by `bench/run.sh` ({' '.join(a.argv) or 'default settings'}) on {started}, "
      f"{a.repeats} interleaved repeats (every case on hourglass, then on PyTorch, then the start-up pair and "
      f"the oneDNN floor), {a.threads} threads. Load average {load_start} at the start, {load_end} at the end "
      f"(the machine is shared: compare ratios, which are taken pair by pair). Every figure below comes from "
      f"this run; the raw measurements are in `benchmark.json`.")
    w("")
    w("## Machine")
    w("")
    fl = mach["flags"]
    w(f"- CPU: {mach['cpu']} ({mach['cpu_family_model']}, {mach['mhz']} MHz, cache {mach['cache']}), "
      f"{mach['logical_cpus']} logical CPUs ({mach['cores_per_socket']} cores, {mach['siblings']} siblings per "
      f"socket), {mach['memory_gb']} GB; {mach['os']}, kernel {mach['kernel']}.")
    w("- Flags: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in fl.items()) + ".")
    fh = mach["onednn_gemm_floor"]
    w(f"- oneDNN {fh['onednn_version']} (Debian libdnnl2 {mach['packages']['libdnnl2']}), effective ISA "
      f"`{fh['effective_isa']}`, OpenMP runtime, gemm_floor with {fh['threads']} threads and "
      f"OMP_WAIT_POLICY={fh['omp_wait_policy'] or 'unset'} GOMP_SPINCOUNT={fh.get('gomp_spincount') or 'unset'}; "
      f"hourglass with the runner's defaults (OMP_WAIT_POLICY=passive, GOMP_SPINCOUNT=1000) unless this run's "
      f"environment set them (OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
      f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}).")
    t = mach["torch"]
    b = t["blas"]
    w(f"- PyTorch {t['version']} (Debian python3-torch {mach['packages']['python3-torch']}, /usr/bin/python3), "
      f"BLAS_INFO={b.get('blas_info')}, {t['num_threads']} threads; mkldnn available: {t['mkldnn']['available']}.")
    w(f"- OpenBLAS: `{b.get('openblas_config', '?')}` (Debian libopenblas0-pthread "
      f"{mach['packages']['libopenblas0-pthread']}), loaded from `{b.get('openblas_library', '?')}`; kernel "
      f"PyTorch ran: **`{b.get('openblas_corename', '?')}`** (openblas_get_corename in the PyTorch process), "
      f"OPENBLAS_VERBOSE=2 says: `{mach['openblas_verbose'] or 'nothing'}`; {b.get('openblas_num_threads', '?')} "
      f"OpenBLAS threads. PyTorch's environment: OPENBLAS_NUM_THREADS={a.threads}, OMP_WAIT_POLICY=PASSIVE, "
      f"OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.")
    w(f"- hourglass: commit {mach.get('hourglass_commit', '?')}"
      f"{' (engine/tools/plugins modified in the working tree)' if mach.get('hourglass_tree_dirty') else ''} "
      f"at the start of the run, "
      f"`{a.hourglass}` (`--version`: {mach.get('hourglass_version', '?')}) "
      f"{'(copied with its plugins at the start of the run, so every run used the same build) ' if a.snapshot else ''}"
      f"with `--threads {a.threads}`; binaries used (sha256 prefix): {', '.join(sorted(binaries))}"
      f"{' — CHANGED DURING THE RUN (rebuilt by someone else)' if len(binaries) > 1 else ''}; built "
      f"{mach.get('hourglass_binary_time', '?')}.")
    w("")
    w("## Summary (medians over the repeats; ratio = hourglass / PyTorch, the median of the per-repeat ratios)")
    w("")
    w("| case | samples/epoch | hourglass s/epoch | PyTorch s/epoch | **ratio** | hourglass samples/s | PyTorch samples/s "
      "| oneDNN f32 floor s/epoch | hourglass / floor | PyTorch / floor |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        s = summary[case["name"]]
        w(f"| {case['title']} | {s['samples']:.0f} | {fmt(s['hg_epoch'])} | {fmt(s['pt_epoch'])} | **{fmt(s['ratio'])}** "
          f"| {s['hg_sps']:.0f} | {s['pt_sps']:.0f} | {fmt(s.get('floor_epoch'))} | {fmt(s.get('hg_over_floor'), 2)} "
          f"| {fmt(s.get('pt_over_floor'), 2)} |")
    w("")
    w("### Framework overhead: step time at small batches")
    w("")
    w("Step time = epoch seconds / steps (the only per-step figure hourglass reports), median over epochs "
      f"{'2..' + str(a.step_epochs) if a.step_epochs >= 3 else '(all)'} and then over repeats; PyTorch's true "
      "per-step median (each step timed) is shown too.")
    w("")
    w("| case | steps/epoch | hourglass ms/step | PyTorch ms/step | **ratio** | PyTorch per-step median ms | oneDNN f32 floor ms/step | hourglass / floor |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        s = summary[case["name"]]
        fs = s["floor_f32"]["step_seconds"] * 1e3 if s["floor_f32"] else None
        w(f"| {case['title']} | {s['steps']:.0f} | {s['hg_step'] * 1e3:.3f} | {s['pt_step'] * 1e3:.3f} | **{fmt(s['ratio'])}** "
          f"| {fmt(s['pt_step_median'] * 1e3 if s['pt_step_median'] else None)} | {fmt(fs)} "
          f"| {fmt(s.get('hg_over_floor'), 2)} |")
    w("")
    w("### Memory, start-up, losses")
    w("")
    w("| case | hourglass peak RSS MB | PyTorch peak RSS MB | RSS ratio | wall outside epochs s (hg / PyTorch) "
      "| train loss after last epoch (hg / PyTorch) | test loss (hg / PyTorch) | test accuracy (hg / PyTorch) |")
    w("|---|---:|---:|---:|---|---|---|---|")
    for case in cases:
        s = summary[case["name"]]
        acc = "—" if s.get("hg_acc") is None else f"{s['hg_acc'] * 100:.2f}% / {s['pt_acc'] * 100:.2f}%"
        w(f"| {case['title']} ({case['epochs']} epochs) | {s['hg_rss']:.0f} | {s['pt_rss']:.0f} | {s['hg_rss'] / s['pt_rss']:.2f} "
          f"| {s['hg_outside']:.2f} / {s['pt_outside']:.2f} | {fmt(s['hg_train'], 5)} / {fmt(s['pt_train'], 5)} "
          f"| {fmt(s['hg_test'], 5)} / {fmt(s['pt_test'], 5)} | {acc} |")
    w("")
    w(f"**Start-up to the end of the first step** (784-1000-784 AE, one batch of 128, {len(startups)} interleaved pairs, "
      f"timed from outside the same way for both, see `bench/run.py`): hourglass **{st['hg'] * 1e3:.0f} ms**, "
      f"PyTorch **{st['pt'] * 1e3:.0f} ms**, ratio **{st['ratio']:.3f}** "
      f"(hourglass {', '.join(f'{x * 1e3:.0f}' for x in st['hg_list'])} ms; PyTorch "
      f"{', '.join(f'{x * 1e3:.0f}' for x in st['pt_list'])} ms). PyTorch's own clocks: import torch "
      f"{st['pt_import']:.2f} s, first step {st['pt_first_step'] * 1e3:.0f} ms, process start to first step "
      f"{fmt(st['pt_internal'], 2)} s (/proc start time, 10 ms ticks). Whole 1-step process (to exit, including "
      f"a test pass over 128 images and, for hourglass, writing the checkpoint): {st['hg_wall']:.2f} s / "
      f"{st['pt_wall']:.2f} s; its peak RSS {st['hg_rss']:.0f} / {st['pt_rss']:.0f} MB.")
    w("")
    w("The losses differ by the random streams only (shuffle order, initial weights, masks): both sides start "
      "Glorot-uniform with zero biases and run the same steps on the same batch sizes and the same data.")
    w("")
    w("## Against the oneDNN floor")
    w("")
    w("The floor of a case is the sum, over every GEMM of one training step (forward; backward-data except for "
      "the first layer; backward-weights), of oneDNN's median time for exactly that shape, taking the faster "
      "of inner_product (weights in oneDNN's preferred layout) and matmul (plain layouts), times the steps per "
      "epoch; for the conv AE it is oneDNN's convolution and deconvolution primitives on the layers' shapes, "
      "taking the faster of every layout `any` (blocked direct kernels) and plain NCHW/OIHW (im2col and "
      "sgemm), with FLOPs counted as their implicit GEMMs. Everything else a step does (bias, "
      "activations, loss, optimizer update, data) costs the floor nothing, so a ratio of 1.0 is unreachable; "
      f"measured by `bench/gemm_floor` {len(floor_runs)} times in the run (median per shape).")
    w("")
    w("| case | GEMM GFLOP per epoch | floor GFLOP/s | hourglass GFLOP/s | PyTorch GFLOP/s | bf16 floor s/epoch |")
    w("|---|---:|---:|---:|---:|---:|")
    for case in cases:
        s = summary[case["name"]]
        if not s["floor_f32"]:
            continue
        bf = summary[case["name"]]["floor_bf16"]
        bfs = f"{bf['step_seconds'] * s['steps']:.3f}" if bf else "unavailable"
        w(f"| {case['title']} | {s['gemm_flops_epoch'] * 1e-9:.1f} | {s['floor_gflops']:.1f} | {s['hg_gflops']:.1f} "
          f"| {s['pt_gflops']:.1f} | {bfs} |")
    w("")
    w("Per shape (f32; M x K x N of the GEMM as `dense OP batch in out`, or the convolution's "
      "`batch C H W OC k stride pad`):")
    w("")
    w("| operation | GFLOP | best primitive (implementation) | median ms | GFLOP/s |")
    w("|---|---:|---|---:|---:|")
    seen = set()
    for case in cases:
        f32 = summary[case["name"]]["floor_f32"]
        if not f32:
            continue
        for op, d in f32["ops"].items():
            if op in seen:
                continue
            seen.add(op)
            w(f"| `{op}` | {d['flops'] * 1e-9:.4f} | {d['primitive']} ({d['impl']}) | {d['seconds'] * 1e3:.3f} | {d['gflops']:.1f} |")
    w("")
    bf_rows = [r for fr in floor_runs for r in fr["rows"] if r["dtype"] == "bf16"]
    bf_ok = [r for r in bf_rows if r["status"] == "ok"]
    statuses = sorted({(r["primitive"], r["status"]) for r in bf_rows if r["status"] != "ok"})
    w("### bf16")
    w("")
    if not bf_rows:
        w("Not tried in this run.")
    elif not bf_ok:
        w(f"oneDNN {fh['onednn_version']} could not create **any** bf16 primitive on this CPU (effective ISA "
          f"`{fh['effective_isa']}`; avx512_bf16 {'yes' if fl.get('avx512_bf16') else 'no'}, avx512f "
          f"{'yes' if fl.get('avx512f') else 'no'}): all {len(bf_rows)} attempts (inner_product, matmul, "
          f"convolution and deconvolution, forward and both backward passes, bf16 sources/weights with bf16 or "
          f"f32 outputs) failed with: " + "; ".join(f"{p}: `{s}`" for p, s in statuses) +
          ". oneDNN 2.x implements bf16 only from AVX-512 (avx512_core, emulated; native with avx512_bf16) "
          "upward, so bf16 cannot be measured here and the bf16 targets of issue 5 cannot be tested on this "
          "machine.")
    else:
        w(f"{len(bf_ok)} of {len(bf_rows)} bf16 attempts created a primitive; the bf16 floor column above uses them.")
        if statuses:
            w("Failures: " + "; ".join(f"{p}: `{s}`" for p, s in statuses) + ".")
    w("")
    w("## Per repeat")
    w("")
    w("| case | repeat | hourglass epochs (s) | PyTorch epochs (s) | ratio | RSS MB (hg / PyTorch) |")
    w("|---|---:|---|---|---:|---|")
    for case in cases:
        for i, p in enumerate(summary[case["name"]]["per_repeat"], 1):
            w(f"| {case['name']} | {i} | {', '.join(f'{x:.3f}' for x in p['hg_epochs'])} | "
              f"{', '.join(f'{x:.3f}' for x in p['pt_epochs'])} | {p['ratio']:.3f} | {p['hg_rss']:.0f} / {p['pt_rss']:.0f} |")
    w("")
    w("## How each side was run")
    w("")
    for case in cases:
        p0 = rounds[0][case["name"]]
        w(f"- {case['name']}: `{p0['hg_cmd']}` / `{p0['pt_cmd']}`")
    w("")
    w("What hourglass does not report, and this benchmark therefore measures from outside: the time to the "
      "first step (taken from the arrival of its live progress line on a pseudo-terminal), and per-step times "
      "(only per-epoch seconds are in the metrics file, so small-batch step times are epoch means).")
    text = "\n".join(L) + "\n"
    with open(os.path.join(out_dir, "benchmark.md"), "w") as f:
        f.write(text)
    return summary, st, text


def chart(a, cases, summary, st, out_dir, mach, started, load_start, load_end):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.5), gridspec_kw=dict(width_ratios=[3.2, 1.2, 1.2]))
    ax = axes[0]
    names = [c["name"] for c in cases]
    x = range(len(names))
    wd = 0.27
    hg = [summary[n]["ratio"] for n in names]
    pt = [1.0] * len(names)
    fl = [(summary[n]["floor_epoch"] / summary[n]["pt_epoch"]) if summary[n].get("floor_epoch") else 0 for n in names]
    b1 = ax.bar([i - wd for i in x], hg, wd, label="hourglass", color="#2b7bba")
    ax.bar(list(x), pt, wd, label="PyTorch 1.13 + OpenBLAS", color="#e8743b")
    b3 = ax.bar([i + wd for i in x], fl, wd, label="oneDNN f32 GEMM/conv floor", color="#7f7f7f")
    for i, n in enumerate(names):
        s = summary[n]
        unit = (f"{s['hg_step'] * 1e3:.2f} ms" if cases[i]["kind"] == "step" else f"{s['hg_epoch']:.2f} s")
        unit_pt = (f"{s['pt_step'] * 1e3:.2f} ms" if cases[i]["kind"] == "step" else f"{s['pt_epoch']:.2f} s")
        ax.text(i - wd, hg[i] + 0.02, unit, ha="center", va="bottom", fontsize=7, rotation=90)
        ax.text(i, 1.02, unit_pt, ha="center", va="bottom", fontsize=7, rotation=90)
        if s.get("floor_epoch"):
            unit_fl = (f"{s['floor_epoch'] / s['steps'] * 1e3:.2f} ms" if cases[i]["kind"] == "step"
                       else f"{s['floor_epoch']:.2f} s")
            ax.text(i + wd, fl[i] + 0.02, unit_fl, ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_ylabel("time per epoch / step, relative to PyTorch (lower is better)")
    ax.axhline(1.0, color="#e8743b", lw=0.6, ls="--")
    ax.set_ylim(0, max(max(hg), 1.0) * 1.35)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("training speed (median of interleaved repeats)", fontsize=10)
    ax = axes[1]
    a1 = summary["ae1000"]
    ax.bar([0, 1], [a1["hg_rss"], a1["pt_rss"]], color=["#2b7bba", "#e8743b"])
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["hourglass", "PyTorch"], fontsize=8)
    ax.set_ylabel("MB")
    ax.set_title("peak RSS, 784-1000-784 AE training", fontsize=10)
    for i, v in enumerate([a1["hg_rss"], a1["pt_rss"]]):
        ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax = axes[2]
    ax.bar([0, 1], [st["hg"] * 1e3, st["pt"] * 1e3], color=["#2b7bba", "#e8743b"])
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["hourglass", "PyTorch"], fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title("start-up to end of first step", fontsize=10)
    for i, v in enumerate([st["hg"] * 1e3, st["pt"] * 1e3]):
        ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    fig.suptitle(f"bench/run.sh {' '.join(a.argv)}  ({started}, {a.repeats} repeats, {a.threads} threads, "
                 f"load {load_start} -> {load_end})\n"
                 f"hourglass vs PyTorch on {mach['cpu']} ({mach['logical_cpus']} CPUs, "
                 f"{'AVX2' if mach['flags']['avx2'] else ''}{', no AVX-512' if not mach['flags']['avx512f'] else ''}), "
                 f"OpenBLAS core {mach['torch']['blas'].get('openblas_corename', '?')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "benchmark.png"), dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run of the batch-128 cases (3)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="samples for the batch-128 cases (all 60000)")
    parser.add_argument("--conv-limit", type=int, default=None, help="samples for the conv AE (default: --limit)")
    parser.add_argument("--step-epochs", type=int, default=None, help="epochs of the batch-1/16 runs (3)")
    parser.add_argument("--b16-limit", type=int, default=None, help="samples of the batch-16 runs (8000: 500 steps)")
    parser.add_argument("--b1-limit", type=int, default=None, help="samples of the batch-1 runs (1000 steps)")
    parser.add_argument("--startup-repeats", type=int, default=None, help="start-up pairs (default: 2 per repeat)")
    parser.add_argument("--floor-min-time", type=float, default=0.04, help="gemm_floor seconds per timed repetition")
    parser.add_argument("--cases", default=None, help="comma-separated subset of: ae1000,denoising,classifier,conv,"
                                                      "vae,ae1000_bf16,ae1000_b16,ae1000_b1 (ae1000_bf16 only "
                                                      "runs on a CPU with AVX512-BF16 or AMX-BF16)")
    parser.add_argument("--quick", action="store_true", help="debug settings (explicit flags still win): 2 epochs "
                                                             "on 6400 samples, 2 repeats, small batch-1/16 runs")
    parser.add_argument("--hourglass", default="build/bin/hourglass", help="the runner (relative to the repository)")
    parser.add_argument("--no-snapshot", dest="snapshot", action="store_false",
                        help="run --hourglass in place instead of a copy taken at the start (a rebuild during "
                             "the run would then mix builds)")
    parser.add_argument("--gemm-floor", dest="gemm_floor", default=os.path.join(REPO, "build-bench/bin/gemm_floor"))
    parser.add_argument("--out-dir", default=os.path.join(REPO, "bench/results"))
    parser.add_argument("--keep-work", action="store_true", help="keep the raw logs and metrics (in /dev/shm)")
    a = parser.parse_args()
    a.argv = []  # the command line as typed to bench/run.sh (without the --gemm-floor it adds)
    skip_next = False
    for arg in sys.argv[1:]:
        if skip_next:
            skip_next = False
        elif arg == "--gemm-floor":
            skip_next = True
        elif not arg.startswith("--gemm-floor="):
            a.argv.append(arg)
    defaults = dict(epochs=3, repeats=3, limit=None, step_epochs=3, b16_limit=8000, b1_limit=1000)
    if a.quick:
        defaults.update(epochs=2, repeats=2, limit=6400, step_epochs=2, b16_limit=1600, b1_limit=200)
    for key, value in defaults.items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    startup_per_repeat = max(1, (a.startup_repeats or 2 * a.repeats) // a.repeats)
    if not os.path.exists(os.path.join(REPO, "data/mnist/train-images-idx3-ubyte")):
        sys.exit("bench: run scripts/fetch-data.sh first (data/mnist/ is missing)")
    if not os.access(a.gemm_floor, os.X_OK):
        sys.exit(f"bench: {a.gemm_floor} missing (bench/run.sh builds it)")
    cases = make_cases(a)
    flags = open("/proc/cpuinfo").read()
    if "avx512_bf16" not in flags and "amx_bf16" not in flags:  # hourglass refuses bf16 there
        cases = [c for c in cases if c.get("precision") != "bf16"]
    if a.cases:
        wanted = a.cases.split(",")
        cases = [c for c in cases if c["name"] in wanted]
        if not any(c["name"] == "ae1000" for c in cases):
            sys.exit("bench: --cases must include ae1000 (the chart and start-up refer to it)")
    os.makedirs(a.out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="hourglass-bench.", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    runner = Runner(a, work)
    a.hourglass_info = hourglass_info(runner.hourglass)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load_start = " ".join(open("/proc/loadavg").read().split()[:3])
    floor_lines = []
    for c in cases:
        for op in c["ops"]:
            if op not in floor_lines:
                floor_lines.append(op)
    rounds, startups, floor_runs = [], [], []
    t_begin = time.perf_counter()
    try:
        for r in range(1, a.repeats + 1):
            rnd = {}
            for c in cases:
                tag = f"{c['name']}_r{r}"
                log(f"repeat {r}/{a.repeats} {c['name']}: hourglass")
                hg = runner.hourglass_run("hg_" + tag, c, c["epochs"], c["limit"])
                log(f"repeat {r}/{a.repeats} {c['name']}: pytorch")
                pt = runner.pytorch_run("pt_" + tag, c, c["epochs"], c["limit"])
                nums = case_numbers(c, hg, pt)
                nums.update(hg_cmd=hg["cmd"].replace(work, "$WORK").replace(REPO + "/", ""), pt_cmd=pt["cmd"])
                rnd[c["name"]] = nums
                log(f"  {c['name']}: hourglass {nums['hg_epoch']:.3f}s  pytorch {nums['pt_epoch']:.3f}s  "
                    f"ratio {nums['ratio']:.3f}")
            rounds.append(rnd)
            ae = next(c for c in cases if c["name"] == "ae1000")
            for k in range(startup_per_repeat):
                tag = f"startup_r{r}_{k}"
                log(f"repeat {r}/{a.repeats} start-up pair {k + 1}")
                hg = runner.hourglass_run("hg_" + tag, ae, 1, 128, marker=b"step 1/")
                pt = runner.pytorch_run("pt_" + tag, ae, 1, 128, marker=b"BENCH_FIRST_STEP_DONE")
                if hg["marker_seconds"] is None or pt["marker_seconds"] is None:
                    sys.exit(f"bench: no first-step report seen in the start-up runs (see {work})")
                startups.append(dict(hg=hg, pt=pt))
            log(f"repeat {r}/{a.repeats} gemm_floor ({len(floor_lines)} operations)")
            floor_runs.append(runner.gemm_floor(f"floor_r{r}", floor_lines))
        load_end = " ".join(open("/proc/loadavg").read().split()[:3])
        pt_any = startups[0]["pt"]["result"]
        mach = machine(a, pt_any, floor_runs[0]["header"])
        summary, st, text = write_report(a, cases, rounds, startups, floor_runs, mach, started, load_start, load_end,
                                         a.out_dir, runner.binaries)
        chart(a, cases, summary, st, a.out_dir, mach, started, load_start, load_end)
        raw = dict(settings={k: v for k, v in vars(a).items()}, started=started, load_start=load_start,
                   load_end=load_end, machine=mach, cases=cases, summary=summary, startup=st,
                   startup_runs=[{side: {k: v for k, v in x[side].items() if k != "result"} for side in x}
                                 for x in startups],
                   floor_runs=floor_runs, total_seconds=time.perf_counter() - t_begin)
        with open(os.path.join(a.out_dir, "benchmark.json"), "w") as f:
            json.dump(raw, f, indent=1, default=str)
        print(text)
        log(f"done in {time.perf_counter() - t_begin:.0f}s: {a.out_dir}/benchmark.md, benchmark.png, benchmark.json")
    finally:
        if a.keep_work:
            log(f"raw files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
