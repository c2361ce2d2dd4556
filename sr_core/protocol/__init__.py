"""The RCAN paper's evaluation protocol: MATLAB-style bicubic (imresize), Y-channel PSNR/SSIM, and the scoring."""
