#!/usr/bin/perl
# A user's program for tests/objectives/test_command.py, in Perl as a user's might be:
#   user_program.pl MODE PARAMS_JSON FOLD SEED BUDGET OUTPUT [CHECKPOINT]
# Each MODE is one way a program ends (what the objective must make of it).
use strict;
use warnings;
use JSON::PP;

my ($mode, $params_json, $fold, $seed, $budget, $output, $checkpoint) = @ARGV;
my $x = decode_json($params_json)->{x};
my %metrics = (objective => ($x - 1) ** 2, fold => $fold eq 'test' ? -1 : $fold + 0,
               seed => $seed + 0, budget => $budget eq 'None' ? -1 : $budget + 0);

sub write_text {
    open(my $out, '>', $output) or die "cannot write $output: $!\n";
    print $out @_;
    close $out;
}

print "trial of x = $x, fold $fold\n";  # the job's log keeps what a program prints
if ($mode eq 'metrics') {
    write_text(JSON::PP->new->canonical->encode(\%metrics));
} elsif ($mode eq 'accuracy') {
    write_text(encode_json({accuracy => 1 / (1 + abs($x - 1))}));
} elsif ($mode eq 'nan') {
    write_text('{"objective": NaN}');
} elsif ($mode eq 'null') {
    write_text('{"objective": null, "steps": 3}');
} elsif ($mode eq 'fails') {
    print STDERR "reading the data\n", "x = $x must not be negative\n", "at train.pl line 9\n";
    exit 3;
} elsif ($mode eq 'killed') {
    kill 'KILL', $$;
} elsif ($mode eq 'silent') {
    exit 0;
} elsif ($mode eq 'list') {
    write_text('[1, 2]');
} elsif ($mode eq 'no_metric') {
    write_text('{"loss": 1.5}');
} elsif ($mode eq 'text') {
    write_text('{"objective": "low"}');
} elsif ($mode eq 'resume') {
    # Trains on from the steps its checkpoint directory says were done, and says so there.
    my $done = 0;
    if (open(my $in, '<', "$checkpoint/steps")) { $done = <$in> + 0; close $in; }
    open(my $state, '>', "$checkpoint/steps") or die "cannot write $checkpoint/steps: $!\n";
    print $state "$budget\n";
    close $state;
    write_text(encode_json({objective => ($x - 1) ** 2 + 1 / $budget, resumed_from => $done}));
} else {
    die "unknown mode $mode\n";
}
