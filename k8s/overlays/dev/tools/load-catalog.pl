#!/usr/bin/env perl
# Loads the demo catalog (xtask/data/catalog.json) into a running stack
# through the product API, like `cargo xtask dev` does, with an admin token
# from token.sh. Runs once per `docker compose up` as the `catalog` service,
# and as the `catalog` Job of the Kubernetes dev overlay.
#
# Safe to run again, and to retry after a failure half-way: it creates only
# the catalog's products whose name the catalog does not list yet, so a
# second run after a complete one creates nothing, and one after a partial
# run creates the rest. (A demo product someone archived is listed no more,
# so a later run creates it again.)
#
# It waits up to PRODUCT_WAIT_SECONDS (default 0: one try) for product to
# answer: Compose starts it once product is healthy, but a Job may start
# first. A Kubernetes Service sends requests only to ready pods, so an
# answer through it means a ready product.
#
# Perl, HTTP::Tiny and JSON::PP because the PostgreSQL image (official and
# stand-in) has them, and the service images have no shell at all.
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;

my $base    = $ENV{PRODUCT_URL}  || 'http://product:8080';
my $catalog = $ENV{CATALOG_FILE} || '/data/catalog.json';
my $tools   = $ENV{TOOLS_DIR}    || '/tools';
my $wait    = $ENV{PRODUCT_WAIT_SECONDS} // 0;

# Exit 1 with a message (die would exit with whatever errno was last).
sub fail { print STDERR @_, "\n"; exit 1 }
fail("PRODUCT_WAIT_SECONDS must be a whole number of seconds, not '$wait'") unless $wait =~ /^[0-9]+$/;

$| = 1;
my $http = HTTP::Tiny->new(timeout => 10, agent => 'shop-catalog-loader');

# Product answers, within the bound.
my $deadline = time + $wait;
my $attempt  = 0;
while (1) {
    $attempt++;
    my $res = $http->get("$base/v1/products?limit=1");
    last if $res->{success};
    # HTTP::Tiny reports a connection it could not make as status 599.
    my $why = $res->{status} == 599 ? 'unreachable' : "$res->{status} $res->{reason}";
    fail("GET $base/v1/products: $why after $attempt attempt(s) in $wait s") if time >= $deadline;
    print "product not ready yet ($why), attempt $attempt; trying again\n";
    sleep 2;
}

# The names the catalog lists already, every page of it.
my %listed;
my $cursor;
do {
    my $url = "$base/v1/products?limit=100" . (defined $cursor ? "&cursor=$cursor" : '');
    my $res = $http->get($url);
    fail("GET $url: $res->{status} $res->{content}") unless $res->{success};
    my $page = decode_json($res->{content});
    $listed{ $_->{name} } = 1 for @{ $page->{items} // [] };
    $cursor = $page->{next_cursor};
} while (defined $cursor);

open my $fh, '<:raw', $catalog or fail("$catalog: $!");
my $products = decode_json(do { local $/; <$fh> });
my @missing = grep { !$listed{ $_->{name} } } @$products;
if (!@missing) {
    print "catalog already loaded (", scalar @$products, " products), nothing to do\n";
    exit 0;
}

my $token = `bash $tools/token.sh catalog-loader --admin --ttl 600`;
fail("token.sh failed") if $? != 0;
chomp $token;

my $json = JSON::PP->new->utf8->canonical;
my $loaded = 0;
for my $product (@missing) {
    my $res = $http->post("$base/v1/products", {
        headers => {
            'Authorization' => "Bearer $token",
            'Content-Type'  => 'application/json',
        },
        content => $json->encode($product),
    });
    fail("loading $product->{name}: $res->{status} $res->{content}") unless $res->{success};
    $loaded++;
}
my $had = @$products - @missing;
print "loaded $loaded products into $base", ($had ? " ($had were there already)" : ''), "\n";
