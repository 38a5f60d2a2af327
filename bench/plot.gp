# plot.gp: bench/results.png, time and size of mailferry and its peers against
# the size of the gen_store stores (1x, 2x, 4x). bench/report.py calls it with
# -e "dat='WORK/scale.dat'; out='bench/results.png'"; columns are listed in the
# first line of the data file.
set terminal pngcairo size 1400,560 font ",10"
set output out
set datafile missing "NaN"
set multiplot layout 1,2 title "mailferry vs peers: cost against store size (warm cache, medians)"
set key top left
set grid
set xrange [0:*]
set yrange [0:*]
set xlabel "store size (GB)"
set ylabel "wall time (s)"
set title "time"
plot dat using 1:2 with linespoints lw 2 title "mailferry pack", \
     dat using 1:3 with linespoints lw 2 title "mailferry unpack sdbox", \
     dat using 1:4 with linespoints lw 2 title "mailferry unpack mdbox", \
     dat using 1:5 with linespoints title "mailferry verify", \
     dat using 1:6 with linespoints dt 2 title "tar | zstd -3 --long=27", \
     dat using 1:7 with linespoints dt 2 title "zstd -d | tar -x + sync", \
     dat using 1:8 with linespoints dt 3 title "borg create", \
     dat using 1:9 with linespoints dt 3 title "restic backup"
set ylabel "bytes out (MB)"
set title "size"
plot dat using 1:11 with linespoints lw 2 title "mailferry archive", \
     dat using 1:12 with linespoints dt 2 title "tar | zstd -3 --long=27", \
     dat using 1:15 with linespoints dt 2 title "tar | zstd -3", \
     dat using 1:13 with linespoints dt 3 title "borg repository", \
     dat using 1:14 with linespoints dt 3 title "restic repository"
unset multiplot
