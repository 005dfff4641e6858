// Gathers cache rows into a new contiguous cache: how SAC keeps the anchors' K/V of every layer.
// A cache is planes (layer * 2 + {0: K, 1: V}) of rows of row_bytes; cache rows [0, seg0_rows) live in seg0
// (the prefix cache, plane stride seg0_plane bytes) and rows from seg0_rows on in seg1 (the cache's own storage).
// dst[plane][i] = source row rows[i] of that plane; dst planes are n_rows * row_bytes apart.
// row_bytes must be a multiple of 4 (16 for the vector path). Grid: (n_rows, planes); block SAC_GATHER_THREADS.
#pragma once
#include "common.cuh"

#define SAC_GATHER_THREADS 128

extern "C" __global__ void sac_anchor_gather(unsigned char* dst, const unsigned char* seg0, long long seg0_plane,
                                             int seg0_rows, const unsigned char* seg1, long long seg1_plane,
                                             const int* rows, int n_rows, int row_bytes);
