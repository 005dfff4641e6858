package io.sac4j.load;

/**
 * The weights of a Llama-family model, named as the forward pass uses them. Every matrix is [out, in].
 * Biases are null unless {@link ModelConfig#qkvBias()}.
 */
public record LlamaWeights(Tensor tokenEmbedding, // (vocab, dim)
                           Layer[] layers,
                           Tensor finalNorm,      // (dim)
                           Tensor output) {       // (vocab, dim); the embedding table when tied

    public record Layer(Tensor attnNorm,          // (dim)
                        Tensor wq,                // (n_heads * head_dim, dim)
                        Tensor wk,                // (n_kv_heads * head_dim, dim)
                        Tensor wv,                // (n_kv_heads * head_dim, dim)
                        Tensor wo,                // (dim, n_heads * head_dim)
                        Tensor bq, Tensor bk, Tensor bv, // biases or null
                        Tensor ffnNorm,           // (dim)
                        Tensor wGate,             // (hidden, dim)   w1
                        Tensor wDown,             // (dim, hidden)   w2
                        Tensor wUp) {             // (hidden, dim)   w3

        /** Every tensor of the layer in declaration order, absent biases as null (what hashes and byte counts walk). */
        public Tensor[] tensors() {
            return new Tensor[]{attnNorm, wq, wk, wv, wo, bq, bk, bv, ffnNorm, wGate, wDown, wUp};
        }

        /** The same layer with other q and v projections (the SAC encoder merges its LoRA into these). */
        public Layer withQv(Tensor q, Tensor v) {
            return new Layer(attnNorm, q, wk, v, wo, bq, bk, bv, ffnNorm, wGate, wDown, wUp);
        }
    }
}
