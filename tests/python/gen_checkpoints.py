#!/usr/bin/env python3
"""Writes the converter's test checkpoints (tests/converter) with Debian's python3-torch.

Every file is written at test time; nothing here is loaded back with torch.load or pickle.load (the
hostile files must never be unpickled by Python either). Usage: gen_checkpoints.py --out DIR

Small random guided-diffusion (ADM) UNet state dicts are built from a key/shape table written here from
guided-diffusion's construction rule (tests/python/adm_ref.py is not needed), then saved:
  * as torch does it: zip saved to a path, zip saved to a file object (prefix "archive/"), legacy format;
    f32, f16, per-tensor mixed dtypes (f16 torso convs, bf16, f64), guided-diffusion's fp16-trainer layout
    (two flat storages, every tensor a view at an offset), nested dicts with EMA, DDP's "module." prefix;
  * re-zipped by Python's zipfile (other prefix, ZIP64 extra fields, data descriptors; deflated entries);
  * hostile or broken: REDUCE calling os.system / builtins.eval, unknown globals, truncated files, a corrupt
    central directory, storages shorter than their tensors, non-contiguous strides, wrong shapes.
Alongside, expected_*.safetensors files hold the tensors each conversion must reproduce bit for bit,
written by a plain safetensors writer below.
"""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import zipfile

import torch

# ---------------------------------------------------------------- ADM key/shape table


def adm_table(c):
    """[(name, shape)] of guided-diffusion's UNetModel in registration order, for config dict c."""
    mc = c["model_channels"]
    ted = 4 * mc
    t = []

    def add(n, s):
        t.append((n, tuple(int(x) for x in s)))

    def norm(p, ch):
        add(p + ".weight", [ch])
        add(p + ".bias", [ch])

    def conv(p, cout, cin, k):
        add(p + ".weight", [cout, cin, k, k])
        add(p + ".bias", [cout])

    def res(p, cin, cout):
        norm(p + ".in_layers.0", cin)
        conv(p + ".in_layers.2", cout, cin, 3)
        e = 2 * cout if c["use_scale_shift_norm"] else cout
        add(p + ".emb_layers.1.weight", [e, ted])
        add(p + ".emb_layers.1.bias", [e])
        norm(p + ".out_layers.0", cout)
        conv(p + ".out_layers.3", cout, cout, 3)
        if cin != cout:
            conv(p + ".skip_connection", cout, cin, 1)

    def attn(p, ch):
        norm(p + ".norm", ch)
        add(p + ".qkv.weight", [3 * ch, ch, 1])
        add(p + ".qkv.bias", [3 * ch])
        add(p + ".proj_out.weight", [ch, ch, 1])
        add(p + ".proj_out.bias", [ch])

    add("time_embed.0.weight", [ted, mc])
    add("time_embed.0.bias", [ted])
    add("time_embed.2.weight", [ted, ted])
    add("time_embed.2.bias", [ted])
    if c["num_classes"]:
        add("label_emb.weight", [c["num_classes"], ted])
    ds_set = {c["image_size"] // r for r in c["attention_resolutions"]}
    mult = c["channel_mult"]
    ch = int(mult[0] * mc)
    conv("input_blocks.0.0", ch, c["in_channels"], 3)
    chans = [ch]
    ds, blk = 1, 1
    for level, m in enumerate(mult):
        for _ in range(c["num_res_blocks"]):
            p = "input_blocks.%d" % blk
            res(p + ".0", ch, int(m * mc))
            ch = int(m * mc)
            if ds in ds_set:
                attn(p + ".1", ch)
            chans.append(ch)
            blk += 1
        if level != len(mult) - 1:
            p = "input_blocks.%d" % blk
            if c["resblock_updown"]:
                res(p + ".0", ch, ch)
            elif c["conv_resample"]:
                conv(p + ".0.op", ch, ch, 3)
            chans.append(ch)
            blk += 1
            ds *= 2
    res("middle_block.0", ch, ch)
    attn("middle_block.1", ch)
    res("middle_block.2", ch, ch)
    blk = 0
    for level in reversed(range(len(mult))):
        for i in range(c["num_res_blocks"] + 1):
            p = "output_blocks.%d" % blk
            ich = chans.pop()
            res(p + ".0", ch + ich, int(mult[level] * mc))
            ch = int(mult[level] * mc)
            sub = 1
            if ds in ds_set:
                attn(p + ".%d" % sub, ch)
                sub += 1
            if level and i == c["num_res_blocks"]:
                q = p + ".%d" % sub
                if c["resblock_updown"]:
                    res(q, ch, ch)
                elif c["conv_resample"]:
                    conv(q + ".conv", ch, ch, 3)
                ds //= 2
            blk += 1
    norm("out.0", ch)
    conv("out.2", c["out_channels"], int(mult[0] * mc), 3)
    return t


BASE = dict(image_size=32, in_channels=3, model_channels=32, out_channels=6, num_res_blocks=1,
            attention_resolutions=[16], channel_mult=[1, 2], num_classes=0, use_scale_shift_norm=True,
            resblock_updown=True, conv_resample=True, learn_sigma=True)
# A: unconditional, learn_sigma, scale-shift, resblock up/down, attention at ds 2 (convert with
#    --set image_size=32 num_head_channels=16).
CFG_A = dict(BASE)
# B: class-conditional, conv resampling, no scale-shift, no learn_sigma, fractional channel_mult, 3 levels.
CFG_B = dict(BASE, model_channels=64, channel_mult=[0.5, 1, 1], num_res_blocks=2, attention_resolutions=[8],
             num_classes=10, use_scale_shift_norm=False, resblock_updown=False, learn_sigma=False, out_channels=3)
# C: resamplers without parameters (resblock_updown=False, conv_resample=False), attention only in the middle.
CFG_C = dict(BASE, image_size=16, channel_mult=[1, 1], attention_resolutions=[], resblock_updown=False,
             conv_resample=False)
# BIG: about 73 MB of f32 weights, for the memory bound.
CFG_BIG = dict(BASE, image_size=64, model_channels=128, channel_mult=[1, 2], num_res_blocks=2,
               attention_resolutions=[32])


def random_state_dict(cfg, seed, metadata=True):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    for name, shape in adm_table(cfg):
        sd[name] = torch.randn(shape, generator=g) * 0.05
    if metadata:  # what nn.Module.state_dict() attaches; pickled as BUILD state
        meta = collections.OrderedDict()
        meta[""] = {"version": 1}
        for name in sd:
            meta[name.rsplit(".", 1)[0]] = {"version": 1}
        sd._metadata = meta
    return sd


def torso_conv(name):
    """Tensors guided-diffusion's convert_to_fp16() makes half: conv weights/biases of the torso."""
    if not name.startswith(("input_blocks.", "middle_block.", "output_blocks.")):
        return False
    return any(k in name for k in (".in_layers.2.", ".out_layers.3.", ".skip_connection.", ".qkv.", ".proj_out.",
                                   "input_blocks.0.0.", ".op.", ".conv."))


def mixed_dtypes(sd):
    out = collections.OrderedDict()
    for k, v in sd.items():
        if torso_conv(k):
            out[k] = v.half()
        elif k.startswith("time_embed.2"):
            out[k] = v.to(torch.bfloat16)
        elif k.startswith("out.0"):
            out[k] = v.double()
        else:
            out[k] = v.clone()
    return out


def gd_fp16_trainer_layout(sd):
    """guided-diffusion's MixedPrecisionTrainer.master_params_to_state_dict: two flat fp32 masters
    (ndim <= 1 params, then ndim > 1 params), every state-dict value a view into them."""
    names = list(sd.keys())
    groups = [([n for n in names if sd[n].ndim <= 1], (-1,)), ([n for n in names if sd[n].ndim > 1], (1, -1))]
    views = {}
    for group, shape in groups:
        master = torch.nn.Parameter(torch.cat([sd[n].reshape(-1) for n in group]).view(shape))
        flat = master.view(-1)
        off = 0
        for n in group:
            k = sd[n].numel()
            views[n] = flat.narrow(0, off, k).view(sd[n].shape)
            off += k
    return collections.OrderedDict((n, views[n]) for n in names)


# ---------------------------------------------------------------- writers


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


ST_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def save_fileobj(obj, path):
    with open(path, "wb") as f:  # a file object gives the entry prefix "archive/"
        torch.save(obj, f)


def save_legacy(obj, path):
    torch.save(obj, path, _use_new_zipfile_serialization=False)


class Unseekable(io.RawIOBase):
    """A write-only stream without tell/seek: makes zipfile write data descriptors."""

    def __init__(self, f):
        self.f = f

    def writable(self):
        return True

    def write(self, b):
        return self.f.write(b)


def rezip(src, dst, prefix, compression=zipfile.ZIP_STORED, zip64=False, unseekable=False, edit=None):
    """Copies a torch zip's entries under a new prefix with Python's zipfile (no 64-byte alignment)."""
    with zipfile.ZipFile(src) as zin:
        entries = [(n.split("/", 1)[1], zin.read(n)) for n in zin.namelist()]
    with open(dst, "wb") as raw:
        target = Unseekable(raw) if unseekable else raw
        with zipfile.ZipFile(target, "w", compression=compression) as z:
            for rest, data in entries:
                if edit:
                    data = edit(rest, data)
                with z.open(prefix + rest, "w", force_zip64=zip64) as w:
                    w.write(data)


# A torch-like pickle written by hand, for layouts torch itself never produces.
class StorageMarker:
    def __init__(self, key, numel, stype=torch.FloatStorage):
        self.key, self.numel, self.stype = key, numel, stype


class RawTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


class TorchLikePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageMarker):
            return ("storage", obj.stype, obj.key, "cpu", obj.numel)
        return None


def write_manual_zip(path, obj, storages, prefix="archive"):
    buf = io.BytesIO()
    TorchLikePickler(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(prefix + "/data.pkl", buf.getvalue())
        for k, b in storages.items():
            z.writestr("%s/data/%s" % (prefix, k), b)
        z.writestr(prefix + "/version", "3\n")


def manual_state_dict(sd, shrink=None):
    """sd as hand-pickled tensors, one storage per tensor; `shrink` names a tensor whose storage is
    declared (and stored) shorter than the tensor."""
    obj, storages = collections.OrderedDict(), {}
    for i, (n, t) in enumerate(sd.items()):
        data = tensor_bytes(t.float())
        numel = t.numel()
        if n == shrink:
            numel -= 7
            data = data[: 4 * numel]
        stride = [1] * t.ndim
        for d in range(t.ndim - 2, -1, -1):
            stride[d] = stride[d + 1] * t.shape[d + 1]
        obj[n] = RawTensor(StorageMarker(str(i), numel), 0, t.shape, stride)
        storages[str(i)] = data
    return obj, storages


class Evil:
    """REDUCE(os.system, (cmd,)): what a hostile checkpoint does. Pickled here, never unpickled."""

    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class EvilEval:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return (eval, (self.code,))


def central_directory_offset(data):
    eocd = data.rfind(b"PK\x05\x06")
    return struct.unpack("<I", data[eocd + 16: eocd + 20])[0]


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    P = lambda n: os.path.join(out, n)
    marker = P("PWNED_MARKER")
    if os.path.exists(marker):
        os.remove(marker)

    a = random_state_dict(CFG_A, 1)
    a_plain = collections.OrderedDict((k, v) for k, v in a.items())
    b = random_state_dict(CFG_B, 2)
    c = random_state_dict(CFG_C, 3)
    ema = random_state_dict(CFG_A, 4, metadata=False)

    # Expected tensors.
    write_safetensors(P("expected_a.safetensors"), a_plain)
    write_safetensors(P("expected_a_f16.safetensors"), {k: v.half() for k, v in a.items()})
    write_safetensors(P("expected_a_bf16.safetensors"), {k: v.to(torch.bfloat16) for k, v in a.items()})
    mixed = mixed_dtypes(a)
    write_safetensors(P("expected_a_mixed.safetensors"), mixed)
    write_safetensors(P("expected_a_mixed_f32.safetensors"), {k: v.float() for k, v in mixed.items()})
    write_safetensors(P("expected_ema.safetensors"), ema)
    write_safetensors(P("expected_b.safetensors"), b)
    write_safetensors(P("expected_c.safetensors"), c)

    # Well-formed checkpoints.
    torch.save(a, P("a_zip.pt"))
    save_fileobj(a, P("a_fileobj.pt"))
    save_legacy(a, P("a_legacy.pt"))
    f16 = collections.OrderedDict((k, v.half()) for k, v in a.items())
    torch.save(f16, P("a_zip_f16.pt"))
    save_legacy(f16, P("a_legacy_f16.pt"))
    torch.save(mixed, P("a_mixed.pt"))
    save_legacy(mixed, P("a_mixed_legacy.pt"))
    shared = gd_fp16_trainer_layout(a)
    save_fileobj(shared, P("a_shared.pt"))
    save_legacy(shared, P("a_shared_legacy.pt"))
    nested = {
        "model": a,
        "ema": ema,
        "step": 1234,
        "optimizer": {"state": {0: {"exp_avg": torch.zeros(3), "step": 5}},
                      "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "config": {"lr": 1e-4, "name": "tiny", "flags": [1, 2.5, None, True], "blob": b"\x00\x01"},
    }
    torch.save(nested, P("a_nested.pt"))
    save_legacy(nested, P("a_nested_legacy.pt"))
    torch.save({"state_dict": collections.OrderedDict(("module." + k, v) for k, v in a.items())}, P("a_module.pt"))
    torch.save([a, {"epoch": 3}], P("a_list.pt"))
    rezip(P("a_zip.pt"), P("a_zip64.pt"), "some/deep/prefix/", zip64=True, unseekable=True)
    rezip(P("a_zip.pt"), P("a_plainzip.pt"), "")
    torch.save(b, P("b_zip.pt"))
    save_legacy(b, P("b_legacy.pt"))
    torch.save(c, P("c_zip.pt"))
    write_safetensors(P("a_raw.safetensors"), a_plain)
    # ~73 MB in guided-diffusion's two-storage layout, for the memory bound.
    big = random_state_dict(CFG_BIG, 5)
    save_fileobj(gd_fp16_trainer_layout(big), P("big_shared.pt"))
    del big

    # Hostile and broken files.
    evil = collections.OrderedDict(a)
    evil["payload"] = Evil("touch " + marker)
    torch.save(evil, P("evil_reduce_zip.pt"))
    save_legacy(evil, P("evil_reduce_legacy.pt"))
    buf = io.BytesIO()
    pickle.dump({"state_dict": EvilEval("__import__('os').system('touch %s')" % marker)}, buf, protocol=4)
    with zipfile.ZipFile(P("evil_stack_global.pt"), "w") as z:  # protocol 4: STACK_GLOBAL builtins.eval
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/version", "3\n")
    torch.save({"state_dict": a, "args": argparse.Namespace(lr=0.1)}, P("unknown_global.pt"))
    with open(P("bare_pickle.pkl"), "wb") as f:
        pickle.dump({"x": 1}, f, protocol=2)

    data = open(P("a_zip.pt"), "rb").read()
    open(P("truncated.pt"), "wb").write(data[: len(data) * 6 // 10])
    cd = central_directory_offset(data)
    corrupt = bytearray(data)
    corrupt[cd: cd + 64] = b"\xaa" * 64
    open(P("corrupt_cd.pt"), "wb").write(bytes(corrupt))
    # A central-directory record whose local-header offset points past the end of the file.
    bad = bytearray(data)
    rec = bad.find(b"PK\x01\x02", cd)
    rec = bad.find(b"PK\x01\x02", rec + 4)  # the second record: a storage entry
    bad[rec + 42: rec + 46] = struct.pack("<I", len(data) + 4096)
    open(P("corrupt_cd_offset.pt"), "wb").write(bytes(bad))
    legacy = open(P("a_legacy.pt"), "rb").read()
    open(P("truncated_legacy.pt"), "wb").write(legacy[: len(legacy) * 8 // 10])
    # A storage entry shorter than the storage the pickle declares.
    rezip(P("a_zip.pt"), P("short_storage.pt"), "archive/",
          edit=lambda rest, d: d[: len(d) // 2] if rest == "data/3" else d)
    # A storage declared shorter than the tensor that uses it.
    obj, storages = manual_state_dict(a, shrink="time_embed.2.weight")
    write_manual_zip(P("short_storage_decl.pt"), obj, storages)
    obj, storages = manual_state_dict(a)
    write_manual_zip(P("a_manual.pt"), obj, storages)  # control: the same writer, well formed
    rezip(P("a_zip.pt"), P("compressed.pt"), "archive/", compression=zipfile.ZIP_DEFLATED)
    nc = collections.OrderedDict(a)
    nc["time_embed.2.weight"] = a["time_embed.2.weight"].t().contiguous().t()  # same shape, strides (1, n)
    torch.save(nc, P("noncontig.pt"))
    ms = collections.OrderedDict(a)
    ms["out.0.weight"] = torch.zeros(31)
    torch.save(ms, P("misshaped.pt"))
    extra = collections.OrderedDict(a)
    extra["input_blocks.0.0.num_batches_tracked"] = torch.tensor(3)
    del extra["out.2.bias"]
    torch.save(extra, P("missing_unexpected.pt"))
    nan = collections.OrderedDict(a)
    nan["out.2.bias"] = a["out.2.bias"].clone()
    nan["out.2.bias"][3] = float("nan")
    torch.save(nan, P("nan.pt"))
    ddpm = collections.OrderedDict()
    ddpm["temb.dense.0.weight"] = torch.zeros(128, 32)
    ddpm["conv_in.weight"] = torch.zeros(32, 3, 3, 3)
    torch.save(ddpm, P("ddpm.pt"))
    open(P("not_a_checkpoint.txt"), "w").write("hello\n")
    open(P("empty.pt"), "wb").close()
    print("wrote test checkpoints to", out)


if __name__ == "__main__":
    main()
