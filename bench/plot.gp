# SPDX-License-Identifier: GPL-2.0
# The benchmark's picture: bench/run.sh calls
#   gnuplot -e "dat='build/bench/sweep.dat'; png='build/bench/sweep.png'" bench/plot.gp
# Left: spawn + exit, ns per goroutine against N. Right: machine memory
# per parked goroutine against N. Log-log; one line per system.
set terminal pngcairo size 1200,500 font ",10"
set output png
set multiplot layout 1,2 title "gmp beside its peers (QEMU TCG: compare ratios, not absolute numbers)"
set logscale xy
set grid
set key top left
set xlabel "N (goroutines)"
set format x "10^{%L}"
set ylabel "ns per goroutine"
set title "spawn + exit (P=2)"
plot for [c=2:5] dat index 0 using 1:c with linespoints lw 2 title columnhead(c)
set ylabel "bytes per goroutine"
set title "memory per parked goroutine (kernel included)"
plot for [c=2:5] dat index 1 using 1:c with linespoints lw 2 title columnhead(c)
unset multiplot
