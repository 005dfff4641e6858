// out[t] = table[tokens[t]] widened to f32, one kernel per table type. table is the weight's raw bytes
// ([vocab][cols] in its type; Q8_0 rows are cols/32 blocks of 34 bytes). Token ids are checked on the host.
// Grid: one block per token; block SAC_EMBED_THREADS.
#pragma once
#include "common.cuh"

#define SAC_EMBED_THREADS 256

extern "C" __global__ void sac_embed_f32(float* out, const unsigned char* table, const int* tokens, int cols);
extern "C" __global__ void sac_embed_bf16(float* out, const unsigned char* table, const int* tokens, int cols);
extern "C" __global__ void sac_embed_f16(float* out, const unsigned char* table, const int* tokens, int cols);
extern "C" __global__ void sac_embed_q8_0(float* out, const unsigned char* table, const int* tokens, int cols);
