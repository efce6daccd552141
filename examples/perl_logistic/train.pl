#!/usr/bin/perl
# Logistic regression by full-batch gradient descent, in Perl (core modules only), on the
# Wisconsin breast-cancer table (examples/data/): the program objective.command runs once per
# (trial, fold). Its arguments, as config.yaml's command line gives them:
#   train.pl DATA.csv FOLDS PARAMS_JSON FOLD SEED BUDGET OUTPUT_JSON
# PARAMS_JSON holds learning_rate and l2; FOLD is 0..FOLDS-1, or "test" for the held-out test
# (train on every cross-validation row, score the held-out rows); BUDGET is the epochs. It
# writes {"loss": ..., "accuracy": ...} to OUTPUT_JSON (loss: mean log loss, null when it
# is not finite: a diverged fit).
use strict;
use warnings;
use JSON::PP;
use List::Util qw(sum);

my ($data_file, $folds, $params_json, $fold, $seed, $epochs, $output) = @ARGV;
die "usage: train.pl DATA.csv FOLDS PARAMS_JSON FOLD SEED BUDGET OUTPUT_JSON\n" unless defined $output;
my $params = decode_json($params_json);
my ($rate, $l2) = ($params->{learning_rate}, $params->{l2});

# The table: a header, then numeric features and the 0/1 target in the last column.
open(my $in, '<', $data_file) or die "cannot read $data_file: $!\n";
my $header = <$in>;
my (@x, @y);
while (my $line = <$in>) {
    chomp $line;
    my @cells = split /,/, $line;
    push @y, pop @cells;
    push @x, \@cells;
}
close $in;
my $rows = @x;
my $features = @{ $x[0] };

# The split is the study's, the same for every trial: a fixed shuffle (a linear congruential
# generator, so that it is the same on every machine), the last fifth held out for the test,
# the rest dealt into FOLDS folds.
my @order = (0 .. $rows - 1);
my $state = 12345;
for (my $i = $rows - 1; $i > 0; $i--) {
    $state = (1103515245 * $state + 12345) % 2147483648;
    my $j = $state % ($i + 1);
    @order[$i, $j] = @order[$j, $i];
}
my $held_out = int($rows / 5);
my @cv = @order[0 .. $rows - $held_out - 1];
my @test = @order[$rows - $held_out .. $rows - 1];
my (@train, @score);
if ($fold eq 'test') {
    @train = @cv;
    @score = @test;
} else {
    for my $k (0 .. $#cv) {
        if ($k % $folds == $fold) { push @score, $cv[$k] } else { push @train, $cv[$k] }
    }
}

# Standardised with the training rows' mean and deviation only.
my (@mean, @deviation);
for my $f (0 .. $features - 1) {
    my @column = map { $x[$_][$f] } @train;
    $mean[$f] = sum(@column) / @column;
    my $variance = sum(map { ($_ - $mean[$f]) ** 2 } @column) / @column;
    $deviation[$f] = sqrt($variance) || 1;
}
my %scaled;
for my $row (@train, @score) {
    $scaled{$row} = [map { ($x[$row][$_] - $mean[$_]) / $deviation[$_] } 0 .. $features - 1];
}

# Weights start small and random, from SEED (Perl's srand: the same numbers for the same
# seed on one machine).
srand($seed);
my @weight = map { (rand() - 0.5) * 0.01 } 0 .. $features;    # the last one: the bias

sub probability {
    my ($row) = @_;
    my $z = $weight[$features];
    $z += $weight[$_] * $scaled{$row}[$_] for 0 .. $features - 1;
    return 1 / (1 + exp(-$z)) if $z > -700;
    return 0;
}

for my $epoch (1 .. $epochs) {
    my @gradient = (0) x ($features + 1);
    for my $row (@train) {
        my $error = probability($row) - $y[$row];
        $gradient[$_] += $error * $scaled{$row}[$_] for 0 .. $features - 1;
        $gradient[$features] += $error;
    }
    for my $f (0 .. $features) {
        my $penalty = $f < $features ? $l2 * $weight[$f] : 0;
        $weight[$f] -= $rate * ($gradient[$f] / @train + $penalty);
    }
}

my ($loss, $correct) = (0, 0);
for my $row (@score) {
    my $p = probability($row);
    my $clipped = $p < 1e-12 ? 1e-12 : $p > 1 - 1e-12 ? 1 - 1e-12 : $p;
    $loss -= $y[$row] ? log($clipped) : log(1 - $clipped);
    $correct++ if ($p >= 0.5 ? 1 : 0) == $y[$row];
}
$loss /= @score;
# A weight that overflowed leaves NaN (which never equals itself) or infinity: diverged.
my $finite = $loss == $loss && $loss != 9**9**9 && $loss != -9**9**9;

open(my $out, '>', $output) or die "cannot write $output: $!\n";
print $out JSON::PP->new->canonical->encode(
    {loss => $finite ? $loss + 0 : undef, accuracy => $correct / @score});
close $out;
