# OpenROAD-flow-scripts design configuration for the EIE accelerator `eie_top`,
# written by `eie generate`. Use it as DESIGN_CONFIG:
#   make -C OpenROAD-flow-scripts/flow DESIGN_CONFIG=$(pwd)/config.mk
# Paths are relative to this file's folder, so the folder can be moved as a whole.

EIE_DESIGN_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

export DESIGN_NAME     = eie_top
export DESIGN_NICKNAME = eie_top
export PLATFORM       ?= nangate45

export VERILOG_FILES = $(EIE_DESIGN_DIR)/eie_sram.v $(EIE_DESIGN_DIR)/eie_top.v
export SDC_FILE      = $(EIE_DESIGN_DIR)/constraint.sdc

# Clock period in the platform's time unit (ns); constraint.sdc
# has the same value.
export CLOCK_PERIOD = 1.25

# SRAMs. Every memory is an instance of `eie_sram` (ports and timing in
# eie_sram.v and docs/hardware_flow.md). eie_sram.v is a behavioural model: synthesized
# as is, each memory becomes flip-flops, which is only sensible for tiny configurations.
# For a real flow, replace eie_sram.v in VERILOG_FILES by wrappers named `eie_sram`
# that instantiate one macro per (DEPTH, WIDTH) (e.g. fakeram45_<depth>x<width> on
# nangate45), and list the macros' views here. The design uses (450 instances):
#       1 x 16 words x 32 bits
#       1 x 16 words x 55 bits
#     128 x 64 words x 32 bits
#      64 x 256 words x 16 bits
#      64 x 256 words x 32 bits
#     128 x 8192 words x 18 bits
#      64 x 16384 words x 64 bits
# (srams.json lists every instance with its hierarchy path.)
# export ADDITIONAL_LEFS = $(EIE_DESIGN_DIR)/macros/<macro>.lef ...
# export ADDITIONAL_LIBS = $(EIE_DESIGN_DIR)/macros/<macro>.lib ...
# export MACRO_PLACE_HALO = 10 10
