"""Training augmentations that imitate images unlike the training set.

Each takes a (1, H, W) float crop (nuclei bright, roughly 0-1) and a random generator and
returns a new tensor; the foreground target is passed where the change follows the nuclei.
They imitate what fails on new images: uneven illumination and vignetting, haze, dim nuclei
beside saturated ones, textured chromatin, defocus and photon (Poisson) noise; for stained
(H&E-like) colour images, other stain strengths and hues (``stain_jitter``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

MIN_RANGE = 0.25  # renormalize never stretches a crop's intensities more than 4x


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> torch.Tensor:
    """A smooth random field of standard-normal values on a ``cells``² grid, upsampled."""
    grid = torch.from_numpy(rng.standard_normal((1, 1, cells, cells), dtype=np.float32))
    return F.interpolate(grid, size=shape, mode="bicubic", align_corners=True)[0]


def illumination(img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Multiply by a slowly varying gain (uneven lighting), with optional vignetting."""
    h, w = img.shape[-2:]
    gain = torch.exp(smooth_field(rng, (h, w), 3) * rng.uniform(0.1, 0.45))
    if rng.random() < 0.5:
        y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        cy, cx = rng.uniform(-0.5, 0.5, 2)
        gain = gain * (1 - rng.uniform(0.2, 0.7) * ((y - cy) ** 2 + (x - cx) ** 2) / 2).clamp(0.1)
    return img * gain


def haze(img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Add a smooth, non-negative background glow (out-of-focus light, autofluorescence)."""
    field = smooth_field(rng, tuple(img.shape[-2:]), 3)
    return img + (field - field.min()) / (field.max() - field.min() + 1e-6) * rng.uniform(0.05, 0.4)


def dim_and_saturate(img: torch.Tensor, fg: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Scale each nucleus (connected foreground) by its own factor; a few become saturated."""
    components, n = ndi.label(fg.numpy() > 0.5)
    if n == 0:
        return img
    factors = np.exp(rng.uniform(np.log(0.2), 0.0, n + 1)).astype(np.float32)
    factors[1:][rng.random(n) < 0.08] = rng.uniform(2.0, 5.0)
    factors[0] = 1.0
    gain = torch.from_numpy(factors[components])
    return (img * gain).clamp(max=float(img.max()))


def chromatin(img: torch.Tensor, fg: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Multiplicative fine-grained texture inside the nuclei (chromatin at high magnification)."""
    noise = torch.from_numpy(rng.standard_normal(img.shape, dtype=np.float32))
    texture = gaussian_blur(noise, rng.uniform(0.8, 3.0))
    texture = texture / (texture.std() + 1e-6)
    gain = (1 + rng.uniform(0.2, 0.6) * texture).clamp(min=0.05)
    return torch.where(fg[None] > 0.5, img * gain, img)


def photon_noise(img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Poisson noise at a random photon count per unit intensity (10-1000)."""
    photons = 10 ** rng.uniform(1, 3)
    counts = rng.poisson(np.clip(img.numpy(), 0, None) * photons).astype(np.float32)
    return torch.from_numpy(counts / photons)


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (1, H, W) tensor with reflected borders."""
    radius = max(1, int(np.ceil(2 * sigma)))
    radius = min(radius, img.shape[-1] - 1, img.shape[-2] - 1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()
    out = F.conv2d(F.pad(img[None], (radius,) * 4, mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(out, k.view(1, 1, -1, 1))[0]


def renormalize(img: torch.Tensor) -> torch.Tensor:
    """Percentile scaling of the crop (1-99.8), as the whole image gets at inference.

    The range is at least MIN_RANGE, so a crop of background only is not stretched into
    bright noise (the whole image it came from would not be).
    """
    lo, hi = np.percentile(img.numpy(), [1.0, 99.8])
    return (img - float(lo)) / max(float(hi - lo), MIN_RANGE)


def stains(rgb: np.ndarray) -> np.ndarray:
    """The haematoxylin, eosin and DAB amounts of a colour image, (H, W, 3) float32."""
    from skimage.color import rgb2hed

    return rgb2hed(np.asarray(rgb)[..., :3]).astype(np.float32)


def stain_jitter(hed: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A (3, H, W) stain-amount crop re-coloured with other stain strengths, as grey (1, H, W).

    Each stain is scaled by 0.6-1.6 and shifted by up to 10 % of its range (as slides from
    another lab or scanner differ), turned back into colour, averaged to grey and inverted
    (nuclei bright), as a stained image is at inference, then re-normalised.
    """
    from skimage.color import hed2rgb

    amounts = hed.numpy()
    scale = np.exp(rng.uniform(np.log(0.6), np.log(1.6), 3)).astype(np.float32)
    spread = np.percentile(amounts.reshape(3, -1), 99, axis=1) + 1e-3
    shift = (rng.uniform(-0.1, 0.1, 3) * spread).astype(np.float32)
    jittered = np.clip(amounts * scale[:, None, None] + shift[:, None, None], 0, None)
    rgb = hed2rgb(np.moveaxis(jittered, 0, -1))
    grey = 1.0 - rgb.mean(axis=-1, dtype=np.float32)
    return renormalize(torch.from_numpy(grey[None].astype(np.float32)))


def strong(img: torch.Tensor, fg: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The full chain, each step drawn with its own probability, then re-normalised."""
    if rng.random() < 0.3:
        img = chromatin(img, fg, rng)
    if rng.random() < 0.3:
        img = dim_and_saturate(img, fg, rng)
    if rng.random() < 0.3:
        img = gaussian_blur(img, rng.uniform(1.0, 3.0))  # defocus
    if rng.random() < 0.4:
        img = illumination(img, rng)
    if rng.random() < 0.25:
        img = haze(img, rng)
    if rng.random() < 0.3:
        img = photon_noise(img, rng)
    return renormalize(img)
