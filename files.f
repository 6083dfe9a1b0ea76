eie_sram.v
eie_top.v
