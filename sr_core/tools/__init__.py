"""Offline tools, never loaded by the app: train, distill, the distillation study, bench and export."""
