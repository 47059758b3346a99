"""The three CapsNet reimplementations users bring checkpoints from, defined here the way those
projects define their modules: same module and parameter names, same forward semantics.
Written for capsrt's golden tests (Debian's python3-torch 1.13, CPU only); nothing is copied.

- XifengGuo/CapsNet-Pytorch: conv1, primarycaps.conv2d, digitcaps.weight [J,I,DO,DI], decoder.
- "flat5d", a common derivative: digitcaps.weight [1,I,J*DO,DI,1].
- gram-ai/capsule-networks: primary_capsules.capsules.{d} (one conv per capsule component),
  digit_capsules.route_weights [J,I,DI,DO], routing softmax over the input capsules, squash
  without epsilon, class score = softmax of the lengths.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def squash_xifengguo(inputs, axis=-1):
    norm = torch.norm(inputs, p=2, dim=axis, keepdim=True)
    scale = norm ** 2 / (1 + norm ** 2) / (norm + 1e-8)
    return scale * inputs


def _pair(v):
    return (v[0], v[1]) if isinstance(v, (list, tuple)) else (v, v)


class ConvGeom:
    """One conv of an architecture file (capsconv's "stem" entries and "primary"): kernel, stride,
    and the zero padding before and after the input on each axis ("valid", TensorFlow's "same",
    or rows/columns on each side), on an input of in_h x in_w."""

    def __init__(self, c, in_c, in_h, in_w, stem):
        self.in_c, self.out_c = in_c, c["channels"]
        self.kh, self.kw = _pair(c["kernel"])
        self.sh, self.sw = _pair(c.get("stride", 1))
        pad = c.get("padding", "valid")
        if pad == "same":
            def same(n, k, s):
                out = -(-n // s)
                total = max((out - 1) * s + k - n, 0)
                return total // 2, total - total // 2
            self.top, self.bottom = same(in_h, self.kh, self.sh)
            self.left, self.right = same(in_w, self.kw, self.sw)
        elif pad == "valid":
            self.top = self.bottom = self.left = self.right = 0
        else:
            self.top, self.left = _pair(pad)
            self.bottom, self.right = self.top, self.left
        self.relu = stem and c.get("relu", True)
        self.out_h = (in_h + self.top + self.bottom - self.kh) // self.sh + 1
        self.out_w = (in_w + self.left + self.right - self.kw) // self.sw + 1

    def module(self):
        return nn.Conv2d(self.in_c, self.out_c, kernel_size=(self.kh, self.kw), stride=(self.sh, self.sw), padding=0)

    def pad(self, x):
        return F.pad(x, (self.left, self.right, self.top, self.bottom))


class Arch:
    """Geometry shared by the three layouts (mirrors capsrt's CapsNetSpec): "conv1" (one conv) or
    "stem" (a list of them), then "primary"."""

    def __init__(self, d):
        self.in_c, self.in_h, self.in_w = d["input"]
        h, w, c = self.in_h, self.in_w, self.in_c
        self.stem = []
        for s in d["stem"] if "stem" in d else [d["conv1"]]:
            g = ConvGeom(s, c, h, w, True)
            self.stem.append(g)
            c, h, w = g.out_c, g.out_h, g.out_w
        first = self.stem[0]
        self.c1, self.k1, self.s1 = first.out_c, first.kh, first.sh  # gram-ai's single conv1
        p = d["primary"]
        self.primary = ConvGeom(p, c, h, w, False)
        self.pc, self.pd, self.pk, self.ps = p["channels"], p["dim"], self.primary.kh, self.primary.sh
        self.classes, self.class_dim = d["classes"], d["class_dim"]
        self.routings = d["routings"]
        self.decoder = d["decoder"]
        self.h2, self.w2 = self.primary.out_h, self.primary.out_w
        self.in_caps = self.pc * self.h2 * self.w2 // self.pd


def make_decoder(a):
    layers, n_in = [], a.classes * a.class_dim
    for h in a.decoder:
        layers += [nn.Linear(n_in, h), nn.ReLU(inplace=True)]
        n_in = h
    layers += [nn.Linear(n_in, a.in_c * a.in_h * a.in_w), nn.Sigmoid()]
    return nn.Sequential(*layers)


# --- XifengGuo/CapsNet-Pytorch -------------------------------------------------------------
class DenseCapsule(nn.Module):
    def __init__(self, in_num_caps, in_dim_caps, out_num_caps, out_dim_caps, routings=3):
        super().__init__()
        self.in_num_caps, self.in_dim_caps = in_num_caps, in_dim_caps
        self.out_num_caps, self.out_dim_caps = out_num_caps, out_dim_caps
        self.routings = routings
        self.weight = nn.Parameter(0.01 * torch.randn(out_num_caps, in_num_caps, out_dim_caps, in_dim_caps))

    def forward(self, x):
        x_hat = torch.squeeze(torch.matmul(self.weight, x[:, None, :, :, None]), dim=-1)
        return route_xifengguo(x_hat, self.routings)


def route_xifengguo(x_hat, routings):
    """x_hat [B, J, I, DO]; b [B, J, I]; softmax over the output capsules (dim 1)."""
    x_hat_detached = x_hat.detach()
    b = torch.zeros(x_hat.size(0), x_hat.size(1), x_hat.size(2))
    for i in range(routings):
        c = F.softmax(b, dim=1)
        if i == routings - 1:
            outputs = squash_xifengguo(torch.sum(c[:, :, :, None] * x_hat, dim=-2, keepdim=True))
        else:
            outputs = squash_xifengguo(torch.sum(c[:, :, :, None] * x_hat_detached, dim=-2, keepdim=True))
            b = b + torch.sum(outputs * x_hat_detached, dim=-1)
    return torch.squeeze(outputs, dim=-2)


class PrimaryCapsule(nn.Module):
    def __init__(self, in_channels, out_channels, dim_caps, kernel_size, stride=1, padding=0, geom=None):
        super().__init__()
        self.dim_caps = dim_caps
        self.geom = geom  # a ConvGeom: its padding (before and after) applied first
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, stride=stride, padding=padding)

    def forward(self, x):
        outputs = self.conv2d(self.geom.pad(x) if self.geom is not None else x)
        outputs = outputs.view(x.size(0), -1, self.dim_caps)
        return squash_xifengguo(outputs)


class CapsuleNet(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        for n, g in enumerate(a.stem):  # conv1, conv2, ...: the stem
            setattr(self, "conv%d" % (n + 1), g.module())
        pg = a.primary
        self.primarycaps = PrimaryCapsule(pg.in_c, a.pc, a.pd, kernel_size=(pg.kh, pg.kw), stride=(pg.sh, pg.sw),
                                          padding=0, geom=pg)
        self.digitcaps = DenseCapsule(a.in_caps, a.pd, a.classes, a.class_dim, a.routings)
        self.decoder = make_decoder(a)
        self.relu = nn.ReLU()

    def capsules(self, x):
        for n, g in enumerate(self.a.stem):
            x = getattr(self, "conv%d" % (n + 1))(g.pad(x))
            if g.relu:
                x = self.relu(x)
        x = self.primarycaps(x)
        return self.digitcaps(x)

    def forward(self, x, y=None):
        x = self.capsules(x)
        length = x.norm(dim=-1)
        if y is None:
            index = length.max(dim=1)[1]
            y = torch.zeros(length.size()).scatter_(1, index.view(-1, 1), 1.)
        reconstruction = self.decoder((x * y[:, :, None]).view(x.size(0), -1))
        return length, x, reconstruction


# --- the flat5d derivative -------------------------------------------------------------------
class DenseCapsule5d(nn.Module):
    """W [1, I, J*DO, DI, 1]: u_hat[i, j*DO+d] = sum_k W[0,i,j*DO+d,k,0] u[i,k]."""

    def __init__(self, in_num_caps, in_dim_caps, out_num_caps, out_dim_caps, routings=3):
        super().__init__()
        self.J, self.DO, self.routings = out_num_caps, out_dim_caps, routings
        self.weight = nn.Parameter(0.01 * torch.randn(1, in_num_caps, out_num_caps * out_dim_caps, in_dim_caps, 1))

    def forward(self, x):
        u = x[:, :, None, :, None]                        # [B, I, 1, DI, 1]
        u_hat = (self.weight * u).sum(dim=3).squeeze(-1)  # [B, I, J*DO]
        u_hat = u_hat.view(x.size(0), -1, self.J, self.DO).permute(0, 2, 1, 3)  # [B, J, I, DO]
        return route_xifengguo(u_hat, self.routings)


class CapsuleNet5d(CapsuleNet):
    def __init__(self, a):
        super().__init__(a)
        self.digitcaps = DenseCapsule5d(a.in_caps, a.pd, a.classes, a.class_dim, a.routings)


# --- gram-ai/capsule-networks ----------------------------------------------------------------
def softmax_gramai(input, dim=1):
    transposed_input = input.transpose(dim, len(input.size()) - 1)
    softmaxed_output = F.softmax(transposed_input.contiguous().view(-1, transposed_input.size(-1)), dim=-1)
    return softmaxed_output.view(*transposed_input.size()).transpose(dim, len(input.size()) - 1)


class CapsuleLayer(nn.Module):
    def __init__(self, num_capsules, num_route_nodes, in_channels, out_channels, kernel_size=None, stride=None,
                 num_iterations=3):
        super().__init__()
        self.num_route_nodes = num_route_nodes
        self.num_iterations = num_iterations
        self.num_capsules = num_capsules
        if num_route_nodes != -1:
            self.route_weights = nn.Parameter(torch.randn(num_capsules, num_route_nodes, in_channels, out_channels))
        else:
            self.capsules = nn.ModuleList(
                [nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, stride=stride, padding=0)
                 for _ in range(num_capsules)])

    @staticmethod
    def squash(tensor, dim=-1):
        squared_norm = (tensor ** 2).sum(dim=dim, keepdim=True)
        scale = squared_norm / (1 + squared_norm)
        return scale * tensor / torch.sqrt(squared_norm)

    def forward(self, x):
        if self.num_route_nodes != -1:
            priors = x[None, :, :, None, :] @ self.route_weights[:, None, :, :, :]
            logits = torch.zeros(*priors.size())
            for i in range(self.num_iterations):
                probs = softmax_gramai(logits, dim=2)
                outputs = self.squash((probs * priors).sum(dim=2, keepdim=True))
                if i != self.num_iterations - 1:
                    delta_logits = (priors * outputs).sum(dim=-1, keepdim=True)
                    logits = logits + delta_logits
        else:
            outputs = [capsule(x).view(x.size(0), -1, 1) for capsule in self.capsules]
            outputs = torch.cat(outputs, dim=-1)
            outputs = self.squash(outputs)
        return outputs


class CapsuleNetGramAI(nn.Module):
    def __init__(self, a):
        super().__init__()
        if len(a.stem) != 1 or any((g.top, g.bottom, g.left, g.right) != (0, 0, 0, 0) for g in a.stem + [a.primary]):
            raise ValueError("gram-ai's network has one conv before the primary capsules and no padding")
        self.a = a
        self.conv1 = nn.Conv2d(in_channels=a.in_c, out_channels=a.c1, kernel_size=a.k1, stride=a.s1)
        self.primary_capsules = CapsuleLayer(num_capsules=a.pd, num_route_nodes=-1, in_channels=a.c1,
                                             out_channels=a.pc // a.pd, kernel_size=a.pk, stride=a.ps)
        self.digit_capsules = CapsuleLayer(num_capsules=a.classes, num_route_nodes=a.in_caps, in_channels=a.pd,
                                           out_channels=a.class_dim, num_iterations=a.routings)
        self.decoder = make_decoder(a)

    def capsules(self, x):
        x = F.relu(self.conv1(x), inplace=True)
        x = self.primary_capsules(x)
        x = self.digit_capsules(x)            # [J, B, 1, 1, DO]
        return x.squeeze(2).squeeze(2).transpose(0, 1)  # [B, J, DO] (batch 1 safe)

    def forward(self, x, y=None):
        x = self.capsules(x)
        classes = (x ** 2).sum(dim=-1) ** 0.5
        classes = F.softmax(classes, dim=-1)
        if y is None:
            _, max_length_indices = classes.max(dim=1)
            y = torch.eye(self.a.classes).index_select(dim=0, index=max_length_indices)
        reconstructions = self.decoder((x * y[:, :, None]).view(x.size(0), -1))
        return classes, x, reconstructions


LAYOUTS = {"xifengguo": CapsuleNet, "flat5d": CapsuleNet5d, "gram-ai": CapsuleNetGramAI}
