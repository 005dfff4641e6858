// SAC anchor embeddings: x[rows[i]] += roles[role_ids[i]] for i < gridDim.x (x [*][cols], roles [*][cols], f32).
// rows must be distinct (each block owns one row). Grid: one block per anchor; block SAC_ROLE_THREADS.
#pragma once
#include "common.cuh"

#define SAC_ROLE_THREADS 256

extern "C" __global__ void sac_role_add_f32(float* x, const float* roles, const int* rows, const int* role_ids, int cols);
