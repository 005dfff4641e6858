// Rotary embedding in place on x [rows][row_stride], `heads` heads of head_dim from column 0, angles from the
// host-computed tables cos/sin [rows][head_dim/2] (io.sac4j.forward.Rope.Table: the same floats as the CPU).
// halves = 0: ADJACENT pairs (x[2i], x[2i+1]) as llama2.c/GGUF; halves = 1: HALVES pairs (x[i], x[i+d/2]) as HF.
// Grid: one block per row; block SAC_ROPE_THREADS.
#pragma once
#include "common.cuh"

#define SAC_ROPE_THREADS 128

extern "C" __global__ void sac_rope_f32(float* x, const float* cos, const float* sin, int heads, int head_dim,
                                        int row_stride, int halves);
