"""The RCAN paper's evaluation protocol: MATLAB-style bicubic (imresize), Y-channel PSNR/SSIM, and the scoring."""

SOURCE = "RCAN"  # the architecture whose paper's test code this protocol follows (its card names the paper)
