"""Deep Compression front end: pruning, weight sharing, encoding, Huffman coding, packing."""
