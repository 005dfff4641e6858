package io.sac4j.forward;

/** Which rows of a forward call need output logits (the vocabulary projection is the largest matmul). */
public enum Logits { NONE, LAST, ALL }
