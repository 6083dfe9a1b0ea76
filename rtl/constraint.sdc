# Timing constraints for eie_top, written by `eie generate`.
# Clock period 1.25 ns (800 MHz), written in ns, the
# platform's liberty time unit. Every other input and output gets 20 %
# of the period as external delay.
current_design eie_top

set clk_name  core_clock
set clk_port_name clk
set clk_period 1.25
set clk_io_pct 0.2

set clk_port [get_ports $clk_port_name]
create_clock -name $clk_name -period $clk_period $clk_port

set non_clock_inputs [lsearch -inline -all -not -exact [all_inputs] $clk_port]
set_input_delay  [expr $clk_period * $clk_io_pct] -clock $clk_name $non_clock_inputs
set_output_delay [expr $clk_period * $clk_io_pct] -clock $clk_name [all_outputs]
