"""Fetches and unpacks Debian packages for the picture sets (training/build_dataset.py, build_heldout.py).

    fetch(["palapeli-data", ...], cache="training/data/debs") -> {package: Unpacked}

Each package is downloaded with `apt-get download` into the cache folder (kept between runs: a .deb already
there is reused), unpacked with `dpkg-deb -x` into a temporary folder, and returned with its version and the
path of its Debian copyright file. A package apt-cache does not know, or whose download fails, is reported
and left out. A pinned version (`pins[package] = version`) is downloaded when the archive still has it;
otherwise the current candidate is used and the difference is reported (the callers check the pictures'
SHA-256 against their manifests, so a changed picture is caught).
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile


class Unpacked:
    def __init__(self, package, version, root, deb):
        self.package = package
        self.version = version
        self.root = root  # the unpacked file system of the package
        self.deb = deb
        self.size = os.path.getsize(deb)

    @property
    def copyright(self):
        return os.path.join(self.root, "usr/share/doc", self.package, "copyright")


def _candidate(package):
    r = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if line.strip().startswith("Candidate:"):
            v = line.split(":", 1)[1].strip()
            return None if v == "(none)" else v
    return None


def _deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", deb, field], capture_output=True, text=True, check=True).stdout.strip()


def fetch(packages, cache, pins=None, log=print):
    pins = pins or {}
    os.makedirs(cache, exist_ok=True)
    work = tempfile.mkdtemp(prefix="reddiff-debs-")
    out = {}
    for p in packages:
        have = sorted(glob.glob(os.path.join(cache, p + "_*.deb")))
        have = [d for d in have if _deb_field(d, "Package") == p]
        want = pins.get(p)
        if want:
            have = [d for d in have if _deb_field(d, "Version") == want] or have
        if not have:
            cand = _candidate(p)
            if cand is None:
                log("skip %s: not known to apt-cache (not in this release, or run apt-get update)" % p)
                continue
            spec = p
            if want and want != cand:
                # the archive usually keeps only the current version; try the pinned one first
                r = subprocess.run(["apt-get", "download", "-q", "%s=%s" % (p, want)], cwd=cache,
                                   capture_output=True, text=True)
                if r.returncode == 0:
                    spec = None
                else:
                    log("note %s: pinned version %s is not in the archive, using %s" % (p, want, cand))
            if spec:
                r = subprocess.run(["apt-get", "download", "-q", spec], cwd=cache, capture_output=True, text=True)
                if r.returncode != 0:
                    log("skip %s: apt-get download failed: %s" % (p, (r.stderr.strip().splitlines() or ["?"])[-1]))
                    continue
            have = [d for d in sorted(glob.glob(os.path.join(cache, p + "_*.deb")))
                    if _deb_field(d, "Package") == p]
        deb = have[-1]
        ver = _deb_field(deb, "Version")
        if want and ver != want:
            log("note %s: version %s (manifest has %s)" % (p, ver, want))
        root = os.path.join(work, p)
        os.makedirs(root)
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
        out[p] = Unpacked(p, ver, root, deb)
    out_work = work

    def cleanup():
        shutil.rmtree(out_work, ignore_errors=True)

    return out, cleanup


if __name__ == "__main__":
    pk, clean = fetch(sys.argv[2:], sys.argv[1])
    for p, u in pk.items():
        print(p, u.version, "%.1f MB" % (u.size / 1e6))
    clean()
