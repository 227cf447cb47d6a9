"""Independent PyTorch re-implementation of guided-diffusion's (ADM) ``UNetModel``.

Written from the semantics in ../shared/reference/adm-unet.md (not copied from any repository). It
reproduces guided-diffusion's state-dict key names, shapes and registration order exactly, and its
forward pass for every option of the C++ ``AdmConfig`` (engine/model_config.h):

  use_scale_shift_norm, resblock_updown, conv_resample, attention_resolutions, num_heads /
  num_head_channels (the latter wins) / num_heads_upsample, legacy (QKVAttentionLegacy) and new
  (QKVAttention) qkv layouts, learn_sigma, class-conditional label_emb, fractional channel_mult
  (e.g. 0.5), any num_res_blocks.

Precision policy (matches guided-diffusion for float32 models, and is a strict upgrade for float64):
  * GroupNorm (32 groups, eps 1e-5) computes in max(float32, input dtype): fp16/bf16 inputs are
    normalised in float32 and cast back (GroupNorm32); float64 inputs stay float64.
  * The attention softmax likewise runs in max(float32, score dtype).
  * Timestep embedding: the frequencies exp(-ln(10000) * i / half) and the arguments t * f_i are formed
    in float32 exactly as guided-diffusion does (so an engine doing the same in float32 gets the same
    arguments bit for bit); cos/sin are then evaluated in the dtype of the time MLP's weights (float64
    for a .double() model, float32 otherwise). Output order [cos, sin], a zero appended for odd dims.
  * There is no convert_to_fp16 emulation: the network runs in the dtype of its parameters (or under
    torch.autocast for training).

Public API:
  make_model(cfg, device=None) -> nn.Module   cfg has exactly the keys of C++ to_json(AdmConfig)
  random_init(model, seed)                    non-zero random weights of sensible scale
  expected_keys(cfg) -> [(name, shape)]       the state-dict table, built on the meta device
  param_count(cfg) -> (tensors, parameters)
  forward_padded(model, x, t, y=None)         reflect-pads H, W (bottom/right) to the size multiple,
                                              runs, and crops back
  size_multiple(cfg) -> int                   2 ** (levels - 1)
  default_config(**overrides) -> dict         the C++ AdmConfig defaults

Model call: model(x [N,C,H,W], t [N] int64, y [N] int64 or None) -> [N,out_channels,H,W].
Set ``model.use_sdpa = True`` to run attention through torch's fused scaled_dot_product_attention when it
exists (torch >= 2.0; mathematically identical, used for training speed).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG_KEYS = (
    "image_size", "in_channels", "model_channels", "out_channels", "num_res_blocks",
    "attention_resolutions", "channel_mult", "num_classes", "num_heads", "num_head_channels",
    "num_heads_upsample", "use_scale_shift_norm", "resblock_updown", "conv_resample",
    "use_new_attention_order", "learn_sigma", "use_fp16", "dropout",
)


def default_config(**overrides):
    """The C++ AdmConfig defaults, with overrides applied (unknown keys are an error)."""
    cfg = {
        "image_size": 256, "in_channels": 3, "model_channels": 128, "out_channels": 3,
        "num_res_blocks": 2, "attention_resolutions": [], "channel_mult": [1, 1, 2, 2, 4, 4],
        "num_classes": 0, "num_heads": 4, "num_head_channels": -1, "num_heads_upsample": -1,
        "use_scale_shift_norm": True, "resblock_updown": True, "conv_resample": True,
        "use_new_attention_order": False, "learn_sigma": True, "use_fp16": False, "dropout": 0.0,
    }
    for k, v in overrides.items():
        if k not in cfg:
            raise KeyError("unknown config key %r" % k)
        cfg[k] = v
    if "out_channels" not in overrides:
        cfg["out_channels"] = 2 * cfg["in_channels"] if cfg["learn_sigma"] else cfg["in_channels"]
    return cfg


def check_config(cfg):
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    extra = [k for k in cfg if k not in CONFIG_KEYS]
    if missing or extra:
        raise ValueError("config keys: missing %s, unknown %s" % (missing, extra))
    mc = cfg["model_channels"]
    if mc <= 0 or mc % 2:
        raise ValueError("model_channels must be positive and even")
    for m in cfg["channel_mult"]:
        if m <= 0 or int(m * mc) % 32:
            raise ValueError("channel_mult %s gives %d channels (not a multiple of 32)" % (m, int(m * mc)))
    for r in cfg["attention_resolutions"]:
        if r <= 0 or cfg["image_size"] % r:
            raise ValueError("attention resolution %d does not divide image_size" % r)
    if cfg["learn_sigma"] and cfg["out_channels"] != 2 * cfg["in_channels"]:
        raise ValueError("learn_sigma needs out_channels = 2 * in_channels")
    if cfg["num_res_blocks"] < 1:
        raise ValueError("num_res_blocks must be >= 1")


def size_multiple(cfg):
    return 2 ** (len(cfg["channel_mult"]) - 1)


# ----------------------------------------------------------------------------------------- pieces

def _upcast(dtype):
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class GroupNorm32(nn.GroupNorm):
    """nn.GroupNorm(32, C, eps=1e-5) computed in at least float32."""

    def __init__(self, channels, device=None):
        super().__init__(32, channels, eps=1e-5, device=device)

    def forward(self, x):
        ct = _upcast(x.dtype)
        w = self.weight.to(ct) if self.weight is not None else None
        b = self.bias.to(ct) if self.bias is not None else None
        return F.group_norm(x.to(ct), self.num_groups, w, b, self.eps).to(x.dtype)


def timestep_embedding(t, dim, dtype=torch.float32, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].to(torch.float32) * freqs.to(t.device)[None]  # float32, as guided-diffusion
    args = args.to(dtype)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class Downsample(nn.Module):
    """conv3x3 stride 2 pad 1 (key ``op``) or, without conv, 2x2 average pooling (no keys)."""

    def __init__(self, ch, use_conv, device=None):
        super().__init__()
        if use_conv:
            self.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1, device=device)
        else:
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    """nearest x2, then conv3x3 pad 1 (key ``conv``) when use_conv."""

    def __init__(self, ch, use_conv, device=None):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(ch, ch, 3, padding=1, device=device)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class ResBlock(nn.Module):
    def __init__(self, cin, emb_ch, dropout, cout, scale_shift, up=False, down=False, device=None):
        super().__init__()
        self.scale_shift = scale_shift
        # Registration order matters for the state-dict order: in_layers, h_upd/x_upd, emb, out, skip.
        self.in_layers = nn.Sequential(GroupNorm32(cin, device), nn.SiLU(),
                                       nn.Conv2d(cin, cout, 3, padding=1, device=device))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(cin, False), Upsample(cin, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(cin, False), Downsample(cin, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(nn.SiLU(),
                                        nn.Linear(emb_ch, 2 * cout if scale_shift else cout, device=device))
        self.out_layers = nn.Sequential(GroupNorm32(cout, device), nn.SiLU(), nn.Dropout(p=dropout),
                                        nn.Conv2d(cout, cout, 3, padding=1, device=device))
        if cin == cout:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(cin, cout, 1, device=device)

    def forward(self, x, emb):
        if self.updown:
            h = self.in_layers[1](self.in_layers[0](x))
            h = self.h_upd(h)
            x = self.x_upd(x)
            h = self.in_layers[2](h)
        else:
            h = self.in_layers(x)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.scale_shift:
            scale, shift = torch.chunk(e, 2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            for layer in self.out_layers[1:]:
                h = layer(h)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


def qkv_attention(qkv, heads, legacy, use_sdpa=False):
    """qkv [N, 3C, T] -> [N, C, T]. legacy: per-head [q|k|v] blocks of 3d rows; new: [all q | all k | all v]."""
    n, width, length = qkv.shape
    c = width // 3
    d = c // heads
    if legacy:
        q, k, v = qkv.reshape(n * heads, 3 * d, length).split(d, dim=1)
    else:
        q, k, v = qkv.chunk(3, dim=1)
        q, k, v = (z.reshape(n * heads, d, length) for z in (q, k, v))
    if use_sdpa and hasattr(F, "scaled_dot_product_attention"):
        # [B, T, d] layout; scale 1/sqrt(d) is the same product as d^-1/4 on both q and k.
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return a.transpose(1, 2).reshape(n, c, length)
    s = 1.0 / math.sqrt(math.sqrt(d))
    w = torch.einsum("bct,bcs->bts", q * s, k * s)
    w = torch.softmax(w.to(_upcast(w.dtype)), dim=-1).to(w.dtype)
    a = torch.einsum("bts,bcs->bct", w, v)
    return a.reshape(n, c, length)


class AttentionBlock(nn.Module):
    def __init__(self, ch, num_heads, num_head_channels, new_order, device=None):
        super().__init__()
        if num_head_channels != -1:
            if ch % num_head_channels:
                raise ValueError("channels %d not divisible by num_head_channels %d" % (ch, num_head_channels))
            self.heads = ch // num_head_channels
        else:
            if ch % num_heads:
                raise ValueError("channels %d not divisible by num_heads %d" % (ch, num_heads))
            self.heads = num_heads
        self.legacy = not new_order
        self.use_sdpa = False
        self.norm = GroupNorm32(ch, device)
        self.qkv = nn.Conv1d(ch, 3 * ch, 1, device=device)
        self.proj_out = nn.Conv1d(ch, ch, 1, device=device)

    def forward(self, x):
        n, c = x.shape[:2]
        spatial = x.shape[2:]
        x = x.reshape(n, c, -1)
        qkv = self.qkv(self.norm(x))
        h = self.proj_out(qkv_attention(qkv, self.heads, self.legacy, self.use_sdpa))
        return (x + h).reshape(n, c, *spatial)


class TimestepEmbedSequential(nn.Sequential):
    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


# ----------------------------------------------------------------------------------------- the UNet

class UNetModel(nn.Module):
    def __init__(self, cfg, device=None):
        super().__init__()
        check_config(cfg)
        self.cfg = dict(cfg)
        mc = cfg["model_channels"]
        mult = cfg["channel_mult"]
        nrb = cfg["num_res_blocks"]
        ss = cfg["use_scale_shift_norm"]
        drop = cfg["dropout"]
        ted = 4 * mc
        attn_ds = {cfg["image_size"] // r for r in cfg["attention_resolutions"]}
        heads, hc = cfg["num_heads"], cfg["num_head_channels"]
        heads_up = cfg["num_heads_upsample"] if cfg["num_heads_upsample"] != -1 else heads
        new_order = cfg["use_new_attention_order"]
        self.model_channels = mc
        self.num_classes = cfg["num_classes"]

        self.time_embed = nn.Sequential(nn.Linear(mc, ted, device=device), nn.SiLU(),
                                        nn.Linear(ted, ted, device=device))
        if self.num_classes > 0:
            self.label_emb = nn.Embedding(self.num_classes, ted, device=device)

        ch = ch0 = int(mult[0] * mc)
        self.input_blocks = nn.ModuleList(
            [TimestepEmbedSequential(nn.Conv2d(cfg["in_channels"], ch, 3, padding=1, device=device))])
        chans = [ch]
        ds = 1
        for level, m in enumerate(mult):
            for _ in range(nrb):
                out = int(m * mc)
                layers = [ResBlock(ch, ted, drop, out, ss, device=device)]
                ch = out
                if ds in attn_ds:
                    layers.append(AttentionBlock(ch, heads, hc, new_order, device))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                chans.append(ch)
            if level != len(mult) - 1:
                if cfg["resblock_updown"]:
                    blk = ResBlock(ch, ted, drop, ch, ss, down=True, device=device)
                else:
                    blk = Downsample(ch, cfg["conv_resample"], device)
                self.input_blocks.append(TimestepEmbedSequential(blk))
                chans.append(ch)
                ds *= 2

        self.middle_block = TimestepEmbedSequential(
            ResBlock(ch, ted, drop, ch, ss, device=device),
            AttentionBlock(ch, heads, hc, new_order, device),
            ResBlock(ch, ted, drop, ch, ss, device=device))

        self.output_blocks = nn.ModuleList([])
        for level, m in list(enumerate(mult))[::-1]:
            for i in range(nrb + 1):
                ich = chans.pop()
                out = int(m * mc)
                layers = [ResBlock(ch + ich, ted, drop, out, ss, device=device)]
                ch = out
                if ds in attn_ds:
                    layers.append(AttentionBlock(ch, heads_up, hc, new_order, device))
                if level and i == nrb:
                    if cfg["resblock_updown"]:
                        layers.append(ResBlock(ch, ted, drop, ch, ss, up=True, device=device))
                    else:
                        layers.append(Upsample(ch, cfg["conv_resample"], device))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(GroupNorm32(ch, device), nn.SiLU(),
                                 nn.Conv2d(ch0, cfg["out_channels"], 3, padding=1, device=device))

    @property
    def use_sdpa(self):
        return any(m.use_sdpa for m in self.modules() if isinstance(m, AttentionBlock))

    @use_sdpa.setter
    def use_sdpa(self, on):
        for m in self.modules():
            if isinstance(m, AttentionBlock):
                m.use_sdpa = bool(on)

    def forward(self, x, t, y=None):
        wdt = self.time_embed[0].weight.dtype
        emb = self.time_embed(timestep_embedding(t, self.model_channels, wdt))
        if self.num_classes > 0:
            if y is None:
                raise ValueError("class-conditional model needs labels y")
            emb = emb + self.label_emb(y)
        elif y is not None:
            raise ValueError("unconditional model got labels")
        hs = []
        h = x
        for blk in self.input_blocks:
            h = blk(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for blk in self.output_blocks:
            h = blk(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h.to(x.dtype))


def make_model(cfg, device=None):
    return UNetModel(cfg, device=device)


def random_init(model, seed):
    """Fill every parameter with non-zero random values of sensible scale (deterministic in seed).

    Conv / Linear weights: normal, std 1/sqrt(fan_in); their biases: normal std 0.05 (+/- 0.01 floor away
    from zero). GroupNorm weights: 1 + 0.1 * normal, biases 0.1 * normal. label_emb: normal std 0.5.
    """
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, nn.GroupNorm):
                mod.weight.copy_(1 + 0.1 * torch.randn(mod.weight.shape, generator=g, dtype=torch.float64))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g, dtype=torch.float64))
            elif isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g, dtype=torch.float64) / math.sqrt(fan_in))
                b = 0.05 * torch.randn(mod.bias.shape, generator=g, dtype=torch.float64)
                b = torch.where(b.abs() < 0.01, torch.full_like(b, 0.01) * torch.sign(b + 1e-30), b)
                mod.bias.copy_(b)
            elif isinstance(mod, nn.Embedding):
                mod.weight.copy_(0.5 * torch.randn(mod.weight.shape, generator=g, dtype=torch.float64))
    for n, p in model.named_parameters():
        assert p.abs().min().item() > 0 or p.numel() == 0, "zero value left in " + n
    return model


def expected_keys(cfg):
    """[(name, shape tuple)] in state-dict order, built without allocating (meta device)."""
    m = UNetModel(cfg, device="meta")
    return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]


def param_count(cfg):
    keys = expected_keys(cfg)
    total = 0
    for _, s in keys:
        n = 1
        for d in s:
            n *= d
        total += n
    return len(keys), total


def forward_padded(model, x, t, y=None):
    """Reflect-pad H and W at the bottom/right up to the next multiple of 2^(levels-1), run, crop back."""
    mult = size_multiple(model.cfg)
    h, w = x.shape[-2:]
    ph, pw = (-h) % mult, (-w) % mult
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    out = model(x, t, y)
    return out[..., :h, :w]


# ----------------------------------------------------------------------------------------- self-check

IMAGENET256_UNCOND = default_config(image_size=256, model_channels=256, channel_mult=[1, 1, 2, 2, 4, 4],
                                    num_res_blocks=2, attention_resolutions=[32, 16, 8], num_head_channels=64,
                                    learn_sigma=True)
FFHQ256 = default_config(image_size=256, model_channels=128, channel_mult=[1, 1, 2, 2, 4, 4], num_res_blocks=1,
                         attention_resolutions=[16], num_head_channels=64, learn_sigma=True)

if __name__ == "__main__":
    for name, cfg, want in (("imagenet256_uncond", IMAGENET256_UNCOND, (566, 552814086)),
                            ("ffhq256", FFHQ256, (362, 93563910))):
        got = param_count(cfg)
        print("%-20s tensors %d params %d  %s" % (name, got[0], got[1], "OK" if got == want else "MISMATCH %s" % (want,)))
