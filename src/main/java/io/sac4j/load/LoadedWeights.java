package io.sac4j.load;

/**
 * What a format loader returns: the configuration and the weights, whose memory lives in the arena the loader was
 * given. {@link ModelFormats} adds the tokenizer to make a {@link Model}.
 */
public record LoadedWeights(ModelConfig config, LlamaWeights weights) {
}
