#!/usr/bin/env perl
# The fault switches of a Compose stack, without Rust (docs/labs/): sets,
# lists or clears the fault rules on every replica of one service, through
# its admin port (/faults, see crates/common/src/faults.rs).
#
#   docker compose run --rm fault SERVICE list
#   docker compose run --rm fault SERVICE clear
#   docker compose run --rm fault SERVICE RULE [RULE...]
#
# A RULE is comma-separated key=value pairs, a bare key meaning true, the
# same syntax as `cargo xtask fault`:
#   route=/v1/products/{id},latency_ms=800,jitter_ms=200
#   route=/v1/orders,method=POST,error_rate=0.5,ttl_secs=60
#   peer=product,unreachable
# Setting rules replaces the ones in force. Each expires after ttl_secs
# (default 300), so a forgotten fault heals itself.
#
# Every replica: `docker compose up --scale product=3` gives the name
# `product` three addresses, and a fault meant for "product" must reach all
# of them, so each address is called in turn.
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use Socket qw(getaddrinfo getnameinfo AF_INET SOCK_STREAM NI_NUMERICHOST NIx_NOSERV);

my $usage = "usage: fault SERVICE list|clear|RULE...\n"
  . "  RULE: key=value pairs joined by commas, e.g. route=/v1/products/{id},latency_ms=800\n"
  . "        or peer=product,unreachable (keys: route peer method latency_ms jitter_ms\n"
  . "        error_rate unreachable ttl_secs)\n";
my ($service, @args) = @ARGV;
die $usage if !defined $service || $service =~ /^-/ || !@args;
my $port = $ENV{ADMIN_PORT} || 9090;

my %numeric = map { $_ => 1 } qw(latency_ms jitter_ms error_rate ttl_secs);
my %string  = map { $_ => 1 } qw(route peer method);

# One RULE argument as the JSON object the admin port takes.
sub rule {
    my ($text) = @_;
    my %rule;
    for my $pair (split /,/, $text) {
        my ($key, $value) = split /=/, $pair, 2;
        if ($key eq 'unreachable') {
            $rule{unreachable} = (!defined $value || $value eq 'true') ? JSON::PP::true : JSON::PP::false;
        } elsif ($numeric{$key} && defined $value && $value =~ /^\d+(\.\d+)?$/) {
            $rule{$key} = $value + 0;
        } elsif ($string{$key} && defined $value && length $value) {
            $rule{$key} = $value;
        } else {
            die "fault: cannot read \"$pair\" in \"$text\"\n$usage";
        }
    }
    return \%rule;
}

my ($method, $body) = ('PUT', undef);
if (@args == 1 && $args[0] eq 'list') {
    $method = 'GET';
} elsif (@args == 1 && $args[0] eq 'clear') {
    $method = 'DELETE';
} else {
    $body = JSON::PP->new->canonical->encode({ rules => [ map { rule($_) } @args ] });
}

my ($err, @found) = getaddrinfo($service, $port, { family => AF_INET, socktype => SOCK_STREAM });
die "fault: no service \"$service\" on this network ($err)\n" if $err || !@found;
my %seen;
my @addresses = grep { !$seen{$_}++ }
  map { (getnameinfo($_->{addr}, NI_NUMERICHOST, NIx_NOSERV))[1] } @found;

my $http = HTTP::Tiny->new(timeout => 10, agent => 'shop-fault');
my $failed = 0;
for my $ip (sort @addresses) {
    my $res = $http->request($method, "http://$ip:$port/faults", {
        headers => { 'Content-Type' => 'application/json' },
        defined $body ? (content => $body) : (),
    });
    print "$service ($ip): $res->{status} $res->{content}\n";
    if ($res->{status} == 404) {
        print "  no fault switches here: the service runs without FAULTS_ENABLED=true\n";
    }
    $failed = 1 unless $res->{success};
}
exit $failed;
