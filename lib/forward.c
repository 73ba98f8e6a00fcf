/* SPDX-License-Identifier: MIT */
/* Forwarding table.  Exact host IPs live in a GHashTable; learned MACs in a
 * fixed table (open addressing, linear probing) allocated once, so that
 * learning on the receive path never allocates.  One GRWLock guards both:
 * lookups take it shared (readers never wait for each other), the control
 * thread takes it exclusive to add and remove. */
#include "forward.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

/* A key and its value in one allocation: the hash table maps it to itself. */
typedef struct ip_entry {
    int family;
    uint8_t bytes[16]; /* IPv4: the first 4, the rest zero */
    void *owner;
} ip_entry;

#define MAC_SLOTS (2 * IPOP__FWD_MAC_MAX) /* load factor at most 1/2 */
#define MAC_NONE UINT16_MAX
G_STATIC_ASSERT(MAC_SLOTS < MAC_NONE);
G_STATIC_ASSERT((MAC_SLOTS & (MAC_SLOTS - 1)) == 0);

typedef struct mac_entry {
    uint8_t mac[6];
    uint16_t prev, next; /* age list (or free list: next only) */
    void *owner;         /* NULL when free */
    uint64_t seq;        /* mac_seq when last moved to the young end */
} mac_entry;

struct ipop__fwd {
    GRWLock lock;
    GHashTable *ip; /* ip_entry * -> itself */
    uint64_t ip_gen; /* changed under the lock, after each change of ip */
    GHashTable *ll; /* TAP link-local addresses: ip_entry * -> itself (family AF_INET6) */

    uint32_t mac_seed;
    size_t mac_count;
    uint64_t mac_seq;            /* counts moves to the young end */
    uint16_t oldest, youngest;   /* ends of the age list */
    uint16_t free_head;
    GHashTable *mac_owners;      /* owner -> how many MACs it has here (GUINT_TO_POINTER) */
    uint16_t slot[MAC_SLOTS];    /* index into entry[], or MAC_NONE */
    mac_entry entry[IPOP__FWD_MAC_MAX];
};

/* Keys are chosen by peers; a per-process seed keeps collisions unplanned. */
static uint64_t ip_seed;

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static guint ip_hash(gconstpointer p)
{
    const ip_entry *e = p;
    uint64_t w[2];

    memcpy(w, e->bytes, sizeof w);
    return (guint)mix64(mix64(w[0] ^ ip_seed ^ (uint64_t)e->family) ^ w[1]);
}

static gboolean ip_equal(gconstpointer a, gconstpointer b)
{
    const ip_entry *x = a, *y = b;

    return x->family == y->family && memcmp(x->bytes, y->bytes, sizeof x->bytes) == 0;
}

/* Fills the key part of e from a; false for an unset or unknown family. */
static bool ip_key(const ipop__addr *a, ip_entry *e)
{
    if (!a || (a->family != AF_INET && a->family != AF_INET6))
        return false;
    e->family = a->family;
    memset(e->bytes, 0, sizeof e->bytes);
    memcpy(e->bytes, a->bytes, a->family == AF_INET ? 4 : 16);
    return true;
}

static uint32_t mac_home(const ipop__fwd *f, const uint8_t mac[6])
{
    uint64_t w = 0;

    memcpy(&w, mac, 6);
    return (uint32_t)mix64(w ^ f->mac_seed) & (MAC_SLOTS - 1);
}

/* The slot holding mac, or the empty slot where it would go. */
static uint32_t mac_probe(const ipop__fwd *f, const uint8_t mac[6])
{
    uint32_t i = mac_home(f, mac);

    while (f->slot[i] != MAC_NONE && memcmp(f->entry[f->slot[i]].mac, mac, 6) != 0)
        i = (i + 1) & (MAC_SLOTS - 1);
    return i;
}

/* Empties slot i and shifts later members of its probe run back, so that
 * probing never needs tombstones. */
static void mac_slot_clear(ipop__fwd *f, uint32_t i)
{
    uint32_t j = i;

    for (;;) {
        uint32_t k;

        f->slot[i] = MAC_NONE;
        do {
            j = (j + 1) & (MAC_SLOTS - 1);
            if (f->slot[j] == MAC_NONE)
                return;
            k = mac_home(f, f->entry[f->slot[j]].mac);
            /* The entry at j may stay when its home lies cyclically in (i, j]. */
        } while (i <= j ? (i < k && k <= j) : (i < k || k <= j));
        f->slot[i] = f->slot[j];
        i = j;
    }
}

static void age_unlink(ipop__fwd *f, uint16_t n)
{
    mac_entry *e = &f->entry[n];

    if (e->prev != MAC_NONE)
        f->entry[e->prev].next = e->next;
    else
        f->oldest = e->next;
    if (e->next != MAC_NONE)
        f->entry[e->next].prev = e->prev;
    else
        f->youngest = e->prev;
}

static void age_push_young(ipop__fwd *f, uint16_t n)
{
    mac_entry *e = &f->entry[n];

    e->prev = f->youngest;
    e->next = MAC_NONE;
    if (f->youngest != MAC_NONE)
        f->entry[f->youngest].next = n;
    else
        f->oldest = n;
    f->youngest = n;
    e->seq = ++f->mac_seq;
}

static guint owner_macs(ipop__fwd *f, void *owner)
{
    return GPOINTER_TO_UINT(g_hash_table_lookup(f->mac_owners, owner));
}

static void owner_macs_add(ipop__fwd *f, void *owner, int d)
{
    guint n = owner_macs(f, owner) + (guint)d;

    if (n)
        g_hash_table_insert(f->mac_owners, owner, GUINT_TO_POINTER(n));
    else
        g_hash_table_remove(f->mac_owners, owner);
}

static void mac_delete(ipop__fwd *f, uint16_t n)
{
    mac_entry *e = &f->entry[n];

    owner_macs_add(f, e->owner, -1);
    mac_slot_clear(f, mac_probe(f, e->mac));
    age_unlink(f, n);
    e->owner = NULL;
    e->next = f->free_head;
    f->free_head = n;
    f->mac_count--;
}

ipop__fwd *ipop__fwd_new(void)
{
    static gsize seeded;
    ipop__fwd *f;

    if (g_once_init_enter(&seeded)) {
        ip_seed = (uint64_t)g_random_int() << 32 | g_random_int();
        g_once_init_leave(&seeded, 1);
    }
    f = g_try_new0(ipop__fwd, 1);
    if (!f)
        return NULL;
    g_rw_lock_init(&f->lock);
    f->ip = g_hash_table_new_full(ip_hash, ip_equal, g_free, NULL);
    f->ll = g_hash_table_new_full(ip_hash, ip_equal, g_free, NULL);
    f->mac_owners = g_hash_table_new(NULL, NULL);
    f->mac_seed = g_random_int();
    f->oldest = f->youngest = MAC_NONE;
    memset(f->slot, 0xff, sizeof f->slot);
    for (uint16_t n = 0; n < IPOP__FWD_MAC_MAX; n++)
        f->entry[n].next = n + 1 < IPOP__FWD_MAC_MAX ? n + 1 : MAC_NONE;
    f->free_head = 0;
    return f;
}

void ipop__fwd_free(ipop__fwd *f)
{
    if (!f)
        return;
    g_hash_table_destroy(f->ip);
    g_hash_table_destroy(f->ll);
    g_hash_table_destroy(f->mac_owners);
    g_rw_lock_clear(&f->lock);
    g_free(f);
}

int ipop__fwd_add_ip(ipop__fwd *f, const ipop__addr *a, void *owner)
{
    ip_entry key, *e;

    if (!f || !owner || !ip_key(a, &key))
        return -EINVAL;
    g_rw_lock_writer_lock(&f->lock);
    e = g_hash_table_lookup(f->ip, &key);
    if (!e) {
        e = g_try_new(ip_entry, 1);
        if (!e) {
            g_rw_lock_writer_unlock(&f->lock);
            return -ENOMEM;
        }
        *e = key;
        g_hash_table_add(f->ip, e);
    }
    e->owner = owner;
    __atomic_store_n(&f->ip_gen, f->ip_gen + 1, __ATOMIC_RELEASE);
    g_rw_lock_writer_unlock(&f->lock);
    return 0;
}

static gboolean owned_by(gpointer key, gpointer value, gpointer owner)
{
    return ((ip_entry *)key)->owner == owner;
}

void ipop__fwd_remove_owner(ipop__fwd *f, void *owner)
{
    uint16_t n, next;

    if (!f || !owner)
        return;
    g_rw_lock_writer_lock(&f->lock);
    if (g_hash_table_foreach_remove(f->ip, owned_by, owner))
        __atomic_store_n(&f->ip_gen, f->ip_gen + 1, __ATOMIC_RELEASE);
    g_hash_table_foreach_remove(f->ll, owned_by, owner);
    for (n = f->oldest; n != MAC_NONE; n = next) {
        next = f->entry[n].next;
        if (f->entry[n].owner == owner)
            mac_delete(f, n);
    }
    g_rw_lock_writer_unlock(&f->lock);
}

void *ipop__fwd_lookup_ip(ipop__fwd *f, const ipop__addr *dst)
{
    ip_entry key;
    const ip_entry *e;
    void *owner;

    if (!f || !ip_key(dst, &key))
        return NULL;
    g_rw_lock_reader_lock(&f->lock);
    e = g_hash_table_lookup(f->ip, &key);
    owner = e ? e->owner : NULL;
    g_rw_lock_reader_unlock(&f->lock);
    return owner;
}

uint64_t ipop__fwd_ip_gen(ipop__fwd *f)
{
    return f ? __atomic_load_n(&f->ip_gen, __ATOMIC_ACQUIRE) : 0;
}

static bool mac_unicast(const uint8_t mac[6])
{
    static const uint8_t zero[6];

    return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

/* Under the shared lock: 1 when mac is already behind owner and young
 * enough that no eviction can reach it soon, so the frame needs no write;
 * -EEXIST when it is another owner's; 0 otherwise. */
static int mac_fresh(ipop__fwd *f, const uint8_t mac[6], void *owner)
{
    uint16_t n = f->slot[mac_probe(f, mac)];

    if (n != MAC_NONE && f->entry[n].owner != owner)
        return -EEXIST;
    return n != MAC_NONE && f->mac_seq - f->entry[n].seq < IPOP__FWD_MAC_MAX / 2;
}

/* The oldest entry of owner (who has one). */
static uint16_t oldest_of(ipop__fwd *f, void *owner)
{
    uint16_t n = f->oldest;

    while (f->entry[n].owner != owner)
        n = f->entry[n].next;
    return n;
}

/* The owner with the most MACs here. */
static void *biggest_owner(ipop__fwd *f)
{
    GHashTableIter it;
    gpointer k, v, best = NULL;
    guint most = 0;

    g_hash_table_iter_init(&it, f->mac_owners);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (GPOINTER_TO_UINT(v) > most) {
            most = GPOINTER_TO_UINT(v);
            best = k;
        }
    return best;
}

/* A MAC stays with its owner: another one cannot take it over (a peer
 * would receive what is meant for another member's host).  The place of a
 * new MAC comes from the owner's own oldest when it has its share, else,
 * with the table full, from the oldest of the owner that has the most:
 * nobody pushes out the few MACs of another by making up many. */
static int mac_learn_locked(ipop__fwd *f, const uint8_t mac[6], void *owner)
{
    uint32_t i = mac_probe(f, mac);
    uint16_t n = f->slot[i];

    if (n != MAC_NONE) {
        if (f->entry[n].owner != owner)
            return -EEXIST;
        age_unlink(f, n);
        age_push_young(f, n);
        return 0;
    }
    if (owner_macs(f, owner) >= IPOP__FWD_MAC_OWNER_MAX) {
        mac_delete(f, oldest_of(f, owner));
        i = mac_probe(f, mac); /* the deletion may have shifted the run */
    } else if (f->mac_count == IPOP__FWD_MAC_MAX) {
        mac_delete(f, oldest_of(f, biggest_owner(f)));
        i = mac_probe(f, mac);
    }
    owner_macs_add(f, owner, 1);
    n = f->free_head;
    f->free_head = f->entry[n].next;
    memcpy(f->entry[n].mac, mac, 6);
    f->entry[n].owner = owner;
    f->slot[i] = n;
    age_push_young(f, n);
    f->mac_count++;
    return 0;
}

int ipop__fwd_learn_mac(ipop__fwd *f, const uint8_t mac[6], void *owner)
{
    int r;

    if (!f || !mac || !owner || !mac_unicast(mac))
        return -EINVAL;
    g_rw_lock_reader_lock(&f->lock);
    r = mac_fresh(f, mac, owner);
    g_rw_lock_reader_unlock(&f->lock);
    if (r)
        return r < 0 ? r : 0;
    g_rw_lock_writer_lock(&f->lock);
    r = mac_learn_locked(f, mac, owner);
    g_rw_lock_writer_unlock(&f->lock);
    return r;
}

void *ipop__fwd_lookup_mac(ipop__fwd *f, const uint8_t mac[6])
{
    void *owner;
    uint16_t n;

    if (!f || !mac || !mac_unicast(mac))
        return NULL;
    g_rw_lock_reader_lock(&f->lock);
    n = f->slot[mac_probe(f, mac)];
    owner = n != MAC_NONE ? f->entry[n].owner : NULL;
    g_rw_lock_reader_unlock(&f->lock);
    return owner;
}

size_t ipop__fwd_count(ipop__fwd *f)
{
    size_t n;

    if (!f)
        return 0;
    g_rw_lock_reader_lock(&f->lock);
    n = g_hash_table_size(f->ip);
    g_rw_lock_reader_unlock(&f->lock);
    return n;
}

size_t ipop__fwd_mac_count(ipop__fwd *f)
{
    size_t n;

    if (!f)
        return 0;
    g_rw_lock_reader_lock(&f->lock);
    n = f->mac_count;
    g_rw_lock_reader_unlock(&f->lock);
    return n;
}

/* ---- addresses belong to someone ---- */

int ipop__fwd_claim_ip(ipop__fwd *f, const ipop__addr *a, void *owner)
{
    ip_entry key, *e;

    if (!f || !owner || !ip_key(a, &key))
        return -EINVAL;
    g_rw_lock_writer_lock(&f->lock);
    e = g_hash_table_lookup(f->ip, &key);
    if (e && e->owner != owner) {
        g_rw_lock_writer_unlock(&f->lock);
        return -EADDRINUSE; /* the earlier holder keeps it */
    }
    if (!e) {
        e = g_try_new(ip_entry, 1);
        if (!e) {
            g_rw_lock_writer_unlock(&f->lock);
            return -ENOMEM;
        }
        *e = key;
        e->owner = owner;
        g_hash_table_add(f->ip, e);
        __atomic_store_n(&f->ip_gen, f->ip_gen + 1, __ATOMIC_RELEASE);
    }
    g_rw_lock_writer_unlock(&f->lock);
    return 0;
}

/* ---- TAP link-local addresses, first come ---- */

static unsigned ll_held(ipop__fwd *f, void *owner)
{
    GHashTableIter it;
    gpointer k;
    unsigned n = 0;

    g_hash_table_iter_init(&it, f->ll);
    while (g_hash_table_iter_next(&it, &k, NULL))
        n += ((ip_entry *)k)->owner == owner;
    return n;
}

int ipop__fwd_claim_ll(ipop__fwd *f, const uint8_t a[16], void *owner)
{
    ip_entry key = { .family = AF_INET6 }, *e;
    int r = 0;

    if (!f || !a || !owner)
        return -EINVAL;
    memcpy(key.bytes, a, 16);
    g_rw_lock_reader_lock(&f->lock);
    e = g_hash_table_lookup(f->ll, &key);
    if (e)
        r = e->owner == owner ? 0 : -EEXIST;
    g_rw_lock_reader_unlock(&f->lock);
    if (e)
        return r;
    /* New: bounded per owner, so the table is at most links * 8 (the count
     * walks the table, which happens at most 8 times a link). */
    g_rw_lock_writer_lock(&f->lock);
    e = g_hash_table_lookup(f->ll, &key);
    if (e)
        r = e->owner == owner ? 0 : -EEXIST;
    else if (ll_held(f, owner) >= IPOP__FWD_LL_OWNER_MAX)
        r = -ENOSPC;
    else if (!(e = g_try_new(ip_entry, 1)))
        r = -ENOMEM;
    else {
        *e = key;
        e->owner = owner;
        g_hash_table_add(f->ll, e);
        r = 1;
    }
    g_rw_lock_writer_unlock(&f->lock);
    return r;
}

int ipop__fwd_hold_ll(ipop__fwd *f, const uint8_t a[16], void *owner)
{
    ip_entry key = { .family = AF_INET6 }, *e;

    if (!f || !a || !owner)
        return -EINVAL;
    memcpy(key.bytes, a, 16);
    g_rw_lock_writer_lock(&f->lock);
    e = g_hash_table_lookup(f->ll, &key);
    if (!e && (e = g_try_new(ip_entry, 1))) {
        *e = key;
        g_hash_table_add(f->ll, e);
    }
    if (e)
        e->owner = owner;
    g_rw_lock_writer_unlock(&f->lock);
    return e ? 0 : -ENOMEM;
}

size_t ipop__fwd_ll_count(ipop__fwd *f)
{
    size_t n;

    if (!f)
        return 0;
    g_rw_lock_reader_lock(&f->lock);
    n = g_hash_table_size(f->ll);
    g_rw_lock_reader_unlock(&f->lock);
    return n;
}
