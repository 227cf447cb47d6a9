#!/usr/bin/python3
# scripts/slurm-array.sh under a real Slurm: starts a single-node cluster on loopback from Debian's packages
# (munged with its own key and socket, slurmctld and slurmd with a slurm.conf written here, custom ports,
# state in a temporary folder), restores 8 small photos with `sbatch --array=0-3 scripts/slurm-array.sh`,
# and checks that every image is restored exactly once, each result equals a single-machine run of the same
# command (within one 8-bit level), a resubmission restores just the deleted outputs, and array tasks killed
# mid-image (scancel, SIGKILL) leave no output that the next resubmission does not complete.
#
#   test_slurm_array.py --reddiff BUILD/reddiff --source REPO [--keep]
#
# Exit status: 0 passed, 1 failed, 77 skipped (Slurm or munge missing, not root, or the daemons do not come
# up; the reason is printed). The daemons and any job left are stopped on every exit.
import argparse
import csv
import ctypes
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

SKIP = 77
ARRAY = 4        # array tasks: 0-3
CROP = 64        # photos are 64x64 crops, so that 2 cores restore them in seconds
# The restoration every run uses: box inpainting with the bundled model, few steps. A task (2 images, one
# CPU) takes about 4 s on the machine of docs/usage.md, 0.4 s of it loading the model, so one caught 1.5 s
# into its run is mid-image.
TASK = ["inpaint", "--mask", "box", "--steps", "60"]  # long enough to be caught CATCH_AFTER s into a run
CATCH_AFTER = 1.5  # seconds


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def die_with_parent():
    # The daemons get SIGTERM when this test dies, however it dies (ctest's timeout kills it outright).
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return f"({e})\n"


class Cluster:
    """munged + slurmctld + slurmd on 127.0.0.1, everything under one folder."""

    def __init__(self, root):
        self.root = root
        self.procs = []  # (name, Popen), in start order
        self.env = dict(os.environ, SLURM_CONF=os.path.join(root, "slurm.conf"))
        for k in list(self.env):
            if k.startswith("SLURM_") and k != "SLURM_CONF":
                del self.env[k]  # a test run inside a Slurm job must not leak that job's settings

    def start_daemon(self, name, argv):
        with open(os.path.join(self.root, "log", name + ".out"), "w") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, preexec_fn=die_with_parent)
        self.procs.append((name, p))

    def logs(self, daemons):
        """The last lines of the daemons' logs (run in the foreground, they log to stderr)."""
        files = [os.path.join(self.root, "log", d + ".out") for d in daemons]
        return "".join(f"--- {f}\n{tail(f)}" for f in files if os.path.isfile(f) and os.path.getsize(f))

    def wait_until(self, what, ok, timeout, daemons):
        t0 = time.time()
        while time.time() - t0 < timeout:
            for name, p in self.procs:
                if p.poll() is not None:
                    raise Skip(f"{name} exited with status {p.returncode} while waiting for {what}:\n" +
                               self.logs(daemons))
            if ok():
                return
            time.sleep(0.2)
        raise Skip(f"{what}: not within {timeout} s:\n" + self.logs(daemons))

    def start(self, cpus):
        r = self.root
        for d in ("munge", "state", "spool", "log"):
            os.makedirs(os.path.join(r, d))
        os.chmod(os.path.join(r, "munge"), 0o755)
        key, sock = os.path.join(r, "munge", "munge.key"), os.path.join(r, "munge", "socket")
        mk = subprocess.run(["mungekey", "--create", f"--keyfile={key}"], capture_output=True, text=True)
        if mk.returncode != 0:
            raise Skip("mungekey --create failed: " + mk.stderr.strip())
        self.start_daemon("munged", ["munged", "--foreground", "--force", f"--socket={sock}", f"--key-file={key}",
                                     f"--pid-file={r}/munge/munged.pid",
                                     f"--seed-file={r}/munge/seed"])

        def munge_ok():
            enc = subprocess.run(["munge", f"--socket={sock}", "--no-input"], capture_output=True)
            return enc.returncode == 0 and subprocess.run(
                ["unmunge", f"--socket={sock}"], input=enc.stdout, capture_output=True).returncode == 0
        self.wait_until("munged (a credential encoded and decoded)", munge_ok, 20, ["munged"])

        host = socket.gethostname().split(".")[0]
        ctld_port, d_port = free_port(), free_port()
        while d_port == ctld_port:
            d_port = free_port()
        conf = f"""# A one-node cluster for tests/slurm/test_slurm_array.py: loopback only, no cgroups, no accounting.
ClusterName=reddifftest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
MinJobAge=600
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1024 State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
        with open(self.env["SLURM_CONF"], "w") as f:
            f.write(conf)
        self.start_daemon("slurmctld", ["slurmctld", "-D", "-i", "-f", self.env["SLURM_CONF"]])
        self.wait_until("slurmctld (scontrol ping)",
                        lambda: "UP" in self.run(["scontrol", "ping"], check_rc=False).stdout, 30, ["slurmctld"])
        self.start_daemon("slurmd", ["slurmd", "-D", "-N", host, "-f", self.env["SLURM_CONF"]])
        self.wait_until("slurmd (the node idle)",
                        lambda: self.run(["sinfo", "-h", "-n", host, "-o", "%T"], check_rc=False).stdout.strip() == "idle",
                        30, ["slurmd", "slurmctld"])
        log(f"cluster up: node {host}, {cpus} CPUs, slurmctld port {ctld_port}, slurmd port {d_port}, in {r}")

    def run(self, argv, check_rc=True, env=None, **kw):
        p = subprocess.run(argv, capture_output=True, text=True, env=env or self.env, **kw)
        if check_rc and p.returncode != 0:
            raise Fail(f"{' '.join(argv)}: exit status {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def stop(self):
        # Jobs first (their processes belong to slurmstepd, not to us), then the daemons, newest first.
        try:
            if any(n == "slurmctld" and p.poll() is None for n, p in self.procs):
                subprocess.run(["scancel", "--full", "--partition=test"], env=self.env, capture_output=True, timeout=10)
                t0 = time.time()
                while time.time() - t0 < 15:
                    q = subprocess.run(["squeue", "-h"], env=self.env, capture_output=True, text=True, timeout=10)
                    if q.returncode != 0 or not q.stdout.strip():
                        break
                    time.sleep(0.3)
        except (OSError, subprocess.SubprocessError):
            pass
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []


def read_png(path):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    check(a.shape == (CROP, CROP, 3), f"{path}: shape {a.shape}, not {CROP}x{CROP}x3")
    return a


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["file"]: r for r in rows}, [r["file"] for r in rows]


def shard_csvs(results):
    """{shard: {file: row}}, checking that no file appears twice within or across shards."""
    out, seen = {}, {}
    for i in range(ARRAY):
        p = os.path.join(results, "scores", f"shard-{i}.csv")
        check(os.path.isfile(p), f"{p} missing")
        rows, names = read_csv(p)
        check(len(rows) == len(names), f"{p}: an image listed twice: {names}")
        for n in names:
            check(n not in seen, f"{n} in shard-{seen.get(n)}.csv and shard-{i}.csv")
            seen[n] = i
        out[i] = rows
    return out


def wait_array(c, job, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        q = c.run(["squeue", "-h", "-j", job, "-o", "%i %T"], check_rc=False)
        if q.returncode == 0 and not q.stdout.strip():
            break
        time.sleep(0.3)
    else:
        raise Fail(f"job {job} still queued or running after {timeout} s")
    states = {}
    for line in c.run(["scontrol", "-o", "show", "job", job]).stdout.splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        states[int(f["ArrayTaskId"])] = (f["JobState"], f["ExitCode"])
    return dict(sorted(states.items()))


def show(states):
    return ", ".join(f"task {i} {s} (exit {e})" for i, (s, e) in states.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reddiff", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = ap.parse_args()
    reddiff, src = os.path.abspath(a.reddiff), os.path.abspath(a.source)
    script = os.path.join(src, "scripts", "slurm-array.sh")
    model = os.path.join(src, "models", "reddiff-default.safetensors")

    if os.geteuid() != 0:
        raise Skip("not root: slurmd must run as root to start jobs")
    missing = [b for b in ("munged", "mungekey", "munge", "unmunge", "slurmctld", "slurmd", "sbatch", "squeue",
                           "scontrol", "scancel", "sinfo") if not shutil.which(b)]
    if missing:
        raise Skip("not installed: " + " ".join(missing) + " (Debian: slurm-wlm munge)")

    # The root is short: munge's socket path must fit a sockaddr_un (108 bytes).
    root = tempfile.mkdtemp(prefix="reddiff-slurm-", dir="/tmp")
    os.chmod(root, 0o755)
    c = Cluster(root)
    ok = skipped = False
    t_start = time.time()
    try:
        c.start(os.cpu_count() or 1)
        t_up = time.time()

        # 8 photos: 64x64 crops of the validation photos.
        data = os.path.join(root, "photos")
        os.makedirs(data)
        val = os.path.join(src, "tests", "data", "val256")
        photos = sorted(f for f in os.listdir(val) if f.endswith(".png"))[:8]
        check(len(photos) == 8, f"{val}: {len(photos)} photos, need 8")
        for k, f in enumerate(photos):
            im = Image.open(os.path.join(val, f)).convert("RGB")
            x, y = 32 + 16 * k, 160 - 16 * k
            im.crop((x, y, x + CROP, y + CROP)).save(os.path.join(data, f))
        names = sorted(photos)
        owner = {n: k % ARRAY for k, n in enumerate(names)}  # reddiff's sharding: sorted position mod count

        opts = TASK + ["--model", model]
        # The single-machine run: the same script and options, no Slurm variables (all 8 images, one process).
        ref = os.path.join(root, "single")
        t0 = time.time()
        env_ref = dict(c.env, REDDIFF=reddiff, DEVICE="cpu")
        r = c.run(["bash", script, opts[0], data, ref] + opts[1:], env=env_ref)
        log(f"single-machine run: {time.time() - t0:.1f} s\n" + r.stdout.strip())
        ref_rows, _ = read_csv(os.path.join(ref, "scores", "shard-0.csv"))
        check(sorted(ref_rows) == names and all(v["status"] == "ok" for v in ref_rows.values()),
              f"single-machine run: rows {ref_rows}")
        ref_img = {n: read_png(os.path.join(ref, "restored", n)) for n in names}

        results = os.path.join(root, "results")
        out = lambda n: os.path.join(results, "restored", n)
        # The tasks get 1 CPU each (the script sets OMP_NUM_THREADS from SLURM_CPUS_PER_TASK) and no GPU; the
        # command-line options override the script's #SBATCH GPU defaults.
        env_job = dict(c.env, REDDIFF=reddiff, DEVICE="cpu", OMP_WAIT_POLICY="PASSIVE")
        env_job.pop("OMP_NUM_THREADS", None)
        sbatch = ["sbatch", "--parsable", f"--array=0-{ARRAY - 1}", "--gres=none", "--cpus-per-task=1", "--mem=200M",
                  f"--chdir={root}", f"--output={root}/log/reddiff-%A_%a.log", script, opts[0], data, results] + opts[1:]

        def submit(what):
            p = c.run(sbatch, env=env_job)
            job = p.stdout.strip().split(";")[0]
            log(f"{what}: sbatch {' '.join(sbatch[1:])}\n  -> job {job}")
            return job

        def check_results(expect, what):
            shards = shard_csvs(results)
            for i, rows in shards.items():
                mine = sorted(n for n in names if owner[n] == i)
                check(sorted(rows) == mine, f"{what}: shard-{i}.csv lists {sorted(rows)}, expected {mine}")
                for n, row in rows.items():
                    check(row["status"] == expect(n), f"{what}: {n} status {row['status']}, expected {expect(n)}")
            worst = 0
            for n in names:
                d = int(np.abs(read_png(out(n)) - ref_img[n]).max())
                check(d <= 1, f"{what}: {n} differs from the single-machine run by {d} levels")
                worst = max(worst, d)
            log(f"  {what}: every image once, statuses as expected; largest difference from the single-machine "
                f"run {worst} level(s)")

        def finish(job, t0, what, expect=None):
            """Waits for the array; its tasks' states must be `expect` (default: all COMPLETED)."""
            states = wait_array(c, job)
            log(f"  finished in {time.time() - t0:.1f} s: {show(states)}")
            expect = expect or {i: "COMPLETED" for i in range(ARRAY)}
            check({i: s for i, (s, _) in states.items()} == expect, f"{what}: task states {states}, expected {expect}")

        def merge():
            m = c.run(["bash", script, "--merge", results]).stdout.strip()
            log("  merge: " + m)
            check(m.startswith("8 images restored, 0 failed"), "merge: " + m)

        # 1. The array restores everything.
        t0 = time.time()
        job = submit("array")
        finish(job, t0, "array")
        check_results(lambda n: "ok", "array")
        for i in range(ARRAY):
            lg = tail(os.path.join(root, "log", f"reddiff-{job}_{i}.log"), 5)
            check(f"array task {i} of {ARRAY}" in lg, f"task {i}'s log: {lg}")
        merge()
        rows, order = read_csv(os.path.join(results, "scores.csv"))
        check(len(order) == 8 and sorted(order) == names, f"scores.csv lists {order}")

        # 2. Two outputs deleted (shards 0 and 2): resubmitting restores just those two.
        gone = [n for n in names if owner[n] == 0][:1] + [n for n in names if owner[n] == 2][:1]
        mtimes = {n: os.stat(out(n)).st_mtime_ns for n in names if n not in gone}
        for n in gone:
            os.remove(out(n))
        log(f"deleted {gone}")
        t0 = time.time()
        finish(submit("resubmission"), t0, "resubmission")
        check_results(lambda n: "ok" if n in gone else "exists", "resubmission")
        check(all(os.stat(out(n)).st_mtime_ns == t for n, t in mtimes.items()), "an existing output was rewritten")

        # 3. Tasks die mid-image: shard 1 is cancelled (scancel), shard 3's reddiff is killed (SIGKILL, as when
        #    a node dies or the OOM killer strikes). Each is frozen (SIGSTOP) once its reddiff has run CATCH_AFTER
        #    seconds, to be sure it is caught before writing its results; neither leaves an output, and the next
        #    resubmission completes both.
        victims = [n for n in names if owner[n] in (1, 3)]
        for n in victims:
            os.remove(out(n))
        log(f"deleted {victims}")
        t0 = time.time()
        job = submit("killed tasks")

        def freeze(shards):
            """Each shard's reddiff, stopped (SIGSTOP) once seen running for CATCH_AFTER s: {shard: pid}."""
            want = {os.path.join(results, "scores", f"shard-{i}.csv").encode(): i for i in shards}
            seen, frozen = {}, {}
            t = time.time()
            while len(frozen) < len(shards):
                check(time.time() - t < 120, f"the reddiff of shards {set(shards) - set(frozen)} never started")
                for pid in filter(str.isdigit, os.listdir("/proc")):
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as f:
                            argv = f.read().split(b"\0")
                    except OSError:
                        continue
                    if os.path.basename(argv[0]) == b"reddiff":
                        for i in (want[a] for a in argv if a in want):
                            seen.setdefault(i, (int(pid), time.time()))
                for i, (pid, since) in seen.items():
                    if i not in frozen and time.time() - since >= CATCH_AFTER:
                        try:
                            os.kill(pid, signal.SIGSTOP)
                        except ProcessLookupError:
                            check(False, f"shard {i}'s reddiff ended within {CATCH_AFTER} s: raise --steps in {__file__}")
                        done = [n for n in names if owner[n] == i and os.path.exists(out(n))]
                        check(not done, f"shard {i} wrote {done} within {CATCH_AFTER} s: raise --steps in {__file__}")
                        frozen[i] = pid
                time.sleep(0.02)
            return frozen

        pids = freeze([1, 3])
        c.run(["scancel", f"{job}_1"])
        log(f"  task 1 (reddiff pid {pids[1]}, stopped {CATCH_AFTER} s into its run) cancelled with scancel")
        os.kill(pids[3], signal.SIGKILL)
        log(f"  task 3's reddiff (pid {pids[3]}, stopped {CATCH_AFTER} s into its run) killed with SIGKILL")
        finish(job, t0, "killed tasks", {0: "COMPLETED", 1: "CANCELLED", 2: "COMPLETED", 3: "FAILED"})
        left = sorted(os.listdir(os.path.join(results, "restored")))
        outputs = [f for f in left if f in names]
        check(sorted(outputs) == sorted(n for n in names if n not in victims),
              f"after the kills the outputs are {outputs}")
        for f in outputs:
            check(int(np.abs(read_png(out(f)) - ref_img[f]).max()) <= 1, f"{f} changed")
        stray = [f for f in left if f not in names]
        check(all(".tmp" in f for f in stray), f"unexpected files after the kills: {stray}")
        log(f"  no output from the killed tasks; other files: {stray or 'none'}")

        t0 = time.time()
        finish(submit("resubmission after the kills"), t0, "resubmission after the kills")
        check_results(lambda n: "ok" if n in victims else "exists", "resubmission after the kills")
        merge()

        log(f"passed: cluster start {t_up - t_start:.1f} s, total {time.time() - t_start:.1f} s")
        ok = True
        return 0
    except Skip:
        skipped = True
        raise
    finally:
        c.stop()
        if not ok and not skipped:
            log(c.logs(["munged", "slurmctld", "slurmd"]) +
                "".join(f"--- {f}\n{tail(f)}" for f in sorted(glob.glob(f"{root}/log/reddiff-*.log"))))
        if (ok or skipped) and not a.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"kept {root}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # runs the clean-up
    try:
        sys.exit(main())
    except Skip as e:
        log(f"skipped: Slurm cannot be started here: {e}")
        sys.exit(SKIP)
    except Fail as e:
        log(f"FAILED: {e}")
        sys.exit(1)
