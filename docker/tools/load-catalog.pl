#!/usr/bin/env perl
# Loads the demo catalog (xtask/data/catalog.json) into a running stack
# through the product API, like `cargo xtask dev` does, with an admin token
# from token.sh. Runs once per `docker compose up` as the `catalog` service;
# an already loaded catalog is left alone, so running it again is harmless.
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

my $http = HTTP::Tiny->new(timeout => 10, agent => 'shop-catalog-loader');

# Something listed already: this volume has its catalog.
my $probe = $http->get("$base/v1/products?limit=1");
die "GET $base/v1/products: $probe->{status} $probe->{content}\n" unless $probe->{success};
if (@{ decode_json($probe->{content})->{items} // [] }) {
    print "catalog already loaded, nothing to do\n";
    exit 0;
}

my $token = `bash $tools/token.sh catalog-loader --admin --ttl 600`;
die "token.sh failed\n" if $? != 0;
chomp $token;

open my $fh, '<:raw', $catalog or die "$catalog: $!\n";
my $products = decode_json(do { local $/; <$fh> });
my $json = JSON::PP->new->utf8->canonical;
my $loaded = 0;
for my $product (@$products) {
    my $res = $http->post("$base/v1/products", {
        headers => {
            'Authorization' => "Bearer $token",
            'Content-Type'  => 'application/json',
        },
        content => $json->encode($product),
    });
    die "loading $product->{name}: $res->{status} $res->{content}\n" unless $res->{success};
    $loaded++;
}
print "loaded $loaded products into $base\n";
