"""Matrix capsules with EM routing as yl-1993/Matrix-Capsules-EM-PyTorch builds them
(model/capsules.py), written here for capsrt's training and golden data (Debian's python3-torch,
CPU only; nothing is copied): the same module and parameter names, so its state_dict has that
code's keys and shapes, and the same forward semantics, read from its module:

- conv1 5x5 stride 2 pad 2, bn1 (BatchNorm, eps 1e-3), ReLU;
- primary_caps: pose = 1x1 conv to 16B channels, a = sigmoid(1x1 conv to B); the output is NHWC
  with the 16B pose values first, then the B activations;
- conv_caps1 (K=3, stride 2), conv_caps2 (K=3, stride 1): the input capsule of a K x K patch is
  (kh*K + kw)*B + type; votes V_ij = M_i W_ij (4x4 matrices); EM routing per output position;
- class_caps: weights [1, D, E, 4, 4] shared across positions (input capsule (y*w + x)*D + type
  takes W[type]); coordinate addition: y/h to pose element 0, x/w to element 1;
- EM: eps 1e-8, lambda 1e-3 fixed; r starts at 1/C; the M-step multiplies r by the input
  activations and renormalises over the output capsules (so the activations cancel, up to eps);
  sigma^2 has eps added; cost = (beta_u + log sigma) * sum_i r; a = sigmoid(lambda (beta_a -
  sum_h cost)); the E-step's softmax is over the output capsules; the last iteration skips it;
- the network's output: the class capsules' activations [batch, E].

The input is NCHW (its train.py normalises MNIST as (x/255 - 0.1307)/0.3081).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-8
LAMBDA = 1e-3
LN_2PI = math.log(2 * math.pi)
# images the plain routing (em_routing) takes at a time outside training: it keeps a dozen vote-sized
# temporaries, and c32's at 500 images outgrew 24 GB (train_em.py's and pytorch_predictions.py's
# evaluations)
PLAIN_BATCH = 50


def votes(pose, w, by_output=False):
    """pose [N, I, 4, 4], w [I, C, 4, 4] -> V [N, I, C, 16] (by_output: [N, C, I, 16]),
    V_ij = M_i W_ij: one matrix product per input capsule i, (N*4 x 4) @ (4 x C*4) (batched 4x4
    products are slow on a CPU)."""
    n, i_count = pose.shape[:2]
    c_count = w.shape[1]
    lhs = pose.permute(1, 0, 2, 3).reshape(i_count, n * 4, 4)              # [I, N*4 (n, p), 4 (q)]
    rhs = w.permute(0, 2, 1, 3).reshape(i_count, 4, c_count * 4)           # [I, 4 (q), C*4 (j, r)]
    out = torch.bmm(lhs, rhs).view(i_count, n, 4, c_count, 4)              # [I, n, p, j, r]
    if by_output:
        return out.permute(1, 3, 0, 2, 4).reshape(n, c_count, i_count, 16)
    return out.permute(1, 0, 3, 2, 4).reshape(n, i_count, c_count, 16)


def em_routing(v, a_in, beta_u, beta_a, iters, return_r=False):
    """v [N, I, C, 16] votes, a_in [N, I] input activations -> (mu [N, C, 16], a_out [N, C]).
    return_r (golden data): the last iteration's E-step runs too, and its couplings r [N, I, C]
    come third."""
    n, i_count, c_count, _ = v.shape
    r = v.new_full((n, i_count, c_count), 1.0 / c_count)
    for it in range(iters):
        # M-step
        rr = r * a_in.unsqueeze(2)
        rr = rr / (rr.sum(dim=2, keepdim=True) + EPS)
        r_sum = rr.sum(dim=1, keepdim=True)                          # [N, 1, C]
        coeff = (rr / (r_sum + EPS)).unsqueeze(3)                    # [N, I, C, 1]
        mu = (coeff * v).sum(dim=1, keepdim=True)                    # [N, 1, C, 16]
        diff2 = (v - mu) ** 2
        sigma_sq = (coeff * diff2).sum(dim=1, keepdim=True) + EPS    # [N, 1, C, 16]
        cost = (beta_u.view(1, 1, c_count, 1) + torch.log(sigma_sq.sqrt())) * r_sum.unsqueeze(3)
        a_out = torch.sigmoid(LAMBDA * (beta_a.view(1, c_count) - cost.sum(dim=3).view(n, c_count)))
        if it == iters - 1 and not return_r:
            break
        # E-step
        ln_p = -diff2 / (2 * sigma_sq) - torch.log(sigma_sq.sqrt()) - 0.5 * LN_2PI
        ln_ap = ln_p.sum(dim=3) + torch.log(a_out).unsqueeze(1)      # [N, I, C]
        r = F.softmax(ln_ap, dim=2)
    if return_r:
        return mu.view(n, c_count, 16), a_out, r
    return mu.view(n, c_count, 16), a_out


def em_routing_fast(vt, a_in, beta_u, beta_a, iters):
    """em_routing in the layout [N, C, I, 16] (votes of one output capsule contiguous), for
    training: each iteration keeps three vote-sized temporaries instead of a dozen (and bmm of
    18k tiny matrices was slower than these products). Same formulas."""
    n, c_count, i_count, _ = vt.shape
    v = vt.reshape(n * c_count, i_count, 16)
    r = vt.new_full((n, c_count, i_count), 1.0 / c_count)
    for it in range(iters):
        rr = r * a_in.unsqueeze(1)
        rr = rr / (rr.sum(dim=1, keepdim=True) + EPS)
        r_sum = rr.sum(dim=2, keepdim=True)                          # [N, C, 1]
        coeff = (rr / (r_sum + EPS)).view(n * c_count, i_count, 1)
        mu = (coeff * v).sum(dim=1, keepdim=True)                    # [N*C, 1, 16]
        diff = v - mu
        diff2 = diff * diff                                          # [N*C, I, 16]
        sigma_sq = (coeff * diff2).sum(dim=1, keepdim=True) + EPS    # [N*C, 1, 16]
        log_sigma = torch.log(sigma_sq.sqrt())
        cost = (beta_u.view(1, c_count, 1) + log_sigma.view(n, c_count, 16)) * r_sum
        a_out = torch.sigmoid(LAMBDA * (beta_a.view(1, c_count) - cost.sum(dim=2)))
        if it == iters - 1:
            break
        ln_p = -(diff2 * (0.5 / sigma_sq)).sum(dim=2).view(n, c_count, i_count) \
            - (log_sigma.sum(dim=2) + 8 * LN_2PI).view(n, c_count, 1)
        r = F.softmax(ln_p + torch.log(a_out).unsqueeze(2), dim=1)
    return mu.view(n, c_count, 16), a_out


def em_caps_fast(pose, w, add, a_in, beta_u, beta_a, iters):
    """Votes and EM routing for training, in PyTorch (em_native.em_caps is the same in native code):
    pose [P, I, 4, 4] input poses, w [Wn, C, 4, 4] (input capsule i takes w[i mod Wn]: Wn = I for
    ConvCaps, the input types for the class capsules), add [I, 16] or None (coordinate addition),
    a_in [P, I] -> (mu [P, C, 16], a_out [P, C])."""
    p, i_count = pose.shape[:2]
    wn, c_count = w.shape[:2]
    vt = votes(pose.reshape(p * (i_count // wn), wn, 4, 4), w, True)         # [P * I/Wn, C, Wn, 16]
    vt = vt.view(p, i_count // wn, c_count, wn, 16).transpose(1, 2).reshape(p, c_count, i_count, 16)
    if add is not None:
        vt = vt + add.view(1, 1, i_count, 16)
    return em_routing_fast(vt.contiguous(), a_in, beta_u, beta_a, iters)


class PrimaryCaps(nn.Module):
    def __init__(self, A, B):
        super().__init__()
        self.pose = nn.Conv2d(A, 16 * B, kernel_size=1)
        self.a = nn.Conv2d(A, B, kernel_size=1)

    def forward(self, x):
        return torch.cat([self.pose(x), torch.sigmoid(self.a(x))], dim=1).permute(0, 2, 3, 1)


class ConvCaps(nn.Module):
    """EM capsules over K x K patches (w_shared False), or the class capsules (w_shared True:
    K 1, the transform shared across positions, coordinate addition)."""

    # None: votes and em_routing; for training, a function with em_caps_fast's contract (em_caps_fast
    # or em_native.em_caps), set by CapsNet.set_fast
    fast = None

    def __init__(self, B, C, K, stride, iters, w_shared=False):
        super().__init__()
        self.B, self.C, self.K, self.stride, self.iters, self.w_shared = B, C, K, stride, iters, w_shared
        self.beta_u = nn.Parameter(torch.zeros(C))
        self.beta_a = nn.Parameter(torch.zeros(C))
        self.weights = nn.Parameter(torch.randn(1, K * K * B, C, 4, 4))

    def forward(self, x):
        b, h, w, c = x.shape
        B, C, K = self.B, self.C, self.K
        if c != 17 * B:
            raise ValueError(f"ConvCaps: {c} channels, expected 17 x {B}")
        if self.w_shared:
            pose = x[..., :16 * B].reshape(b, h * w * B, 4, 4)
            a_in = x[..., 16 * B:].reshape(b, h * w * B)
            # coordinate addition: input (y*w + x)*B + t gets y/h and x/w on its pose elements 0 and 1
            coord = torch.zeros(h, w, B, 16, dtype=x.dtype)
            coord[..., 0] = (torch.arange(h, dtype=x.dtype) / h).view(h, 1, 1)
            coord[..., 1] = (torch.arange(w, dtype=x.dtype) / w).view(1, w, 1)
            coord = coord.view(h * w * B, 16)
            if self.fast:
                return self.fast(pose, self.weights[0], coord, a_in, self.beta_u, self.beta_a, self.iters)[1]
            # input (y*w + x)*B + t takes W[t]: the votes of type t over every batch and position
            v = votes(pose.view(b * h * w, B, 4, 4), self.weights[0]).view(b, h * w * B, C, 16)
            return em_routing(v + coord.view(1, h * w * B, 1, 16), a_in, self.beta_u, self.beta_a, self.iters)[1]
        s = self.stride
        oh, ow = (h - K) // s + 1, (w - K) // s + 1
        patches = x.unfold(1, K, s).unfold(2, K, s)                  # [b, oh, ow, c, kh, kw]
        patches = patches.permute(0, 1, 2, 4, 5, 3).reshape(b * oh * ow, K * K, c)
        pose = patches[..., :16 * B].reshape(b * oh * ow, K * K * B, 4, 4)
        a_in = patches[..., 16 * B:].reshape(b * oh * ow, K * K * B)
        if self.fast:
            mu, a_out = self.fast(pose, self.weights[0], None, a_in, self.beta_u, self.beta_a, self.iters)
        else:
            mu, a_out = em_routing(votes(pose, self.weights[0]), a_in, self.beta_u, self.beta_a, self.iters)
        return torch.cat([mu.reshape(b, oh, ow, C * 16), a_out.view(b, oh, ow, C)], dim=3)


class CapsNet(nn.Module):
    def __init__(self, A=32, B=32, C=32, D=32, E=10, K=3, iters=2, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, A, kernel_size=5, stride=2, padding=2)
        self.bn1 = nn.BatchNorm2d(A, eps=0.001, momentum=0.1, affine=True)
        self.primary_caps = PrimaryCaps(A, B)
        self.conv_caps1 = ConvCaps(B, C, K, 2, iters)
        self.conv_caps2 = ConvCaps(C, D, K, 1, iters)
        self.class_caps = ConvCaps(D, E, 1, 1, iters, w_shared=True)

    def set_fast(self, fast):
        """fast: False (the plain em_routing), True (em_caps_fast) or a function with its contract."""
        for m in (self.conv_caps1, self.conv_caps2, self.class_caps):
            m.fast = em_caps_fast if fast is True else (fast or None)
        return self

    def stem(self, x):
        """conv1, bn1 and ReLU: the layers whose training output depends on the whole batch (bn1's
        batch statistics)."""
        return F.relu(self.bn1(self.conv1(x)))

    def capsules(self, h):
        """The rest, image by image: PrimaryCaps to the class activations [N, E]."""
        return self.class_caps(self.conv_caps2(self.conv_caps1(self.primary_caps(h))))

    def forward(self, x):
        return self.capsules(self.stem(x))


def spread_loss(a, target, margin):
    """yl-1993's SpreadLoss: sum_j max(0, m - (a_t - a_j))^2 / batch - m^2 (the target's own term)."""
    at = a.gather(1, target.view(-1, 1))
    return (torch.clamp(margin - (at - a), min=0) ** 2).sum() / a.size(0) - margin ** 2
