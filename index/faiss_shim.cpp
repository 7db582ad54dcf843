/* faiss_shim.cpp - vindex.h over the FAISS C++ API (the only C++ in docqa).
 *
 * Every entry point catches FAISS's exceptions and turns them into
 * dq_set_error() and a -1/NULL return: no exception crosses into C. The file
 * format wraps FAISS's own serialisation in a header (magic, version, dim,
 * tag, generation, payload length and hash); reading hashes the payload
 * before FAISS parses a byte of it, because FAISS trusts the sizes it reads
 * and a flipped length can make it allocate gigabytes or read past the end.
 */
#include "index/vindex.h"
#include "index/index.h"
#include "index/vscan.h"

extern "C" {
#include "common/common.h"
}

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include <omp.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <cfloat>
#include <exception>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct vindex {
    faiss::Index *index; /* owned; IDMap2/IDMap wrap their sub-index (own_fields) */
    vindex_kind kind;
    int dim;
};

static const char MAGIC[8] = {'D', 'Q', 'V', 'I', 'N', 'D', 'E', 'X'};
enum { FORMAT_VERSION = 1, MAX_TAG = 1023 };

/* ---- payload hash: 4 lanes of 64-bit multiply-xor over 32-byte blocks, fast
 * enough (several GB/s) that checking a 2 GB index costs less than parsing it. */
struct hasher {
    uint64_t lane[4] = {0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull,
                        0x85EBCA77C2B2AE63ull};
    unsigned char tail[32];
    size_t n_tail = 0;
    uint64_t total = 0;

    static uint64_t mix(uint64_t h, uint64_t w)
    {
        h ^= w * 0x9E3779B97F4A7C15ull;
        h = (h << 31) | (h >> 33);
        return h * 0xC2B2AE3D27D4EB4Full;
    }
    void block(const unsigned char *p)
    {
        for (int i = 0; i < 4; i++) {
            uint64_t w;
            memcpy(&w, p + 8 * i, 8);
            lane[i] = mix(lane[i], w);
        }
    }
    void update(const void *data, size_t n)
    {
        const unsigned char *p = static_cast<const unsigned char *>(data);
        total += n;
        if (n_tail) {
            size_t take = 32 - n_tail < n ? 32 - n_tail : n;
            memcpy(tail + n_tail, p, take);
            n_tail += take;
            p += take;
            n -= take;
            if (n_tail < 32)
                return;
            block(tail);
            n_tail = 0;
        }
        for (; n >= 32; p += 32, n -= 32)
            block(p);
        memcpy(tail, p, n);
        n_tail = n;
    }
    uint64_t final()
    {
        uint64_t h = total;
        for (size_t i = 0; i < n_tail; i++)
            h = mix(h, tail[i]);
        for (int i = 0; i < 4; i++)
            h = mix(h, lane[i]);
        return h ^ (h >> 29);
    }
};

/* The header fields, hashed too so a flipped dim, tag or generation is caught. */
static void hash_header(hasher &h, int dim, const char *tag, uint64_t generation)
{
    uint64_t d = (uint64_t)dim;
    h.update(&d, 8);
    h.update(&generation, 8);
    h.update(tag, strlen(tag));
}

static int fail_exception(const char *what, const std::exception &e)
{
    dq_set_error("%s: %s", what, e.what());
    return -1;
}

static faiss::Index *make_index(int dim, vindex_kind kind, int nlist, int m)
{
    switch (kind) {
    case VINDEX_FLAT:
        return new faiss::IndexIDMap2(new faiss::IndexFlatIP(dim));
    case VINDEX_IVF: {
        auto *ivf = new faiss::IndexIVFFlat(new faiss::IndexFlatIP(dim), (size_t)dim,
                                            (size_t)nlist, faiss::METRIC_INNER_PRODUCT);
        ivf->own_fields = true;
        return ivf;
    }
    case VINDEX_IVF_SQ8: {
        auto *sq = new faiss::IndexIVFScalarQuantizer(
            new faiss::IndexFlatIP(dim), (size_t)dim, (size_t)nlist,
            faiss::ScalarQuantizer::QT_8bit, faiss::METRIC_INNER_PRODUCT, true);
        sq->own_fields = true;
        return sq;
    }
    case VINDEX_HNSW:
        return new faiss::IndexIDMap(
            new faiss::IndexHNSWFlat(dim, m, faiss::METRIC_INNER_PRODUCT));
    }
    return nullptr;
}

static void own_sub_index(faiss::Index *index)
{
    if (auto *m2 = dynamic_cast<faiss::IndexIDMap2 *>(index))
        m2->own_fields = true;
    else if (auto *m1 = dynamic_cast<faiss::IndexIDMap *>(index))
        m1->own_fields = true;
}

extern "C" vindex *vindex_new(int dim, vindex_kind kind, int nlist, int hnsw_m)
{
    if (dim <= 0 || dim > 65536 || (vindex_kind_is_ivf(kind) && nlist <= 0) ||
        (kind == VINDEX_HNSW && hnsw_m <= 1) || kind < VINDEX_FLAT || kind > VINDEX_IVF_SQ8) {
        dq_set_error("cannot create a vector index: bad parameters (dim %d, lists %d, m %d)",
                     dim, nlist, hnsw_m);
        return nullptr;
    }
    try {
        faiss::Index *index = make_index(dim, kind, nlist, hnsw_m);
        own_sub_index(index);
        vindex *v = static_cast<vindex *>(dq_calloc(1, sizeof *v));
        v->index = index;
        v->kind = kind;
        v->dim = dim;
        return v;
    } catch (const std::exception &e) {
        fail_exception("cannot create a vector index", e);
        return nullptr;
    }
}

extern "C" void vindex_free(vindex *v)
{
    if (!v)
        return;
    delete v->index;
    free(v);
}

extern "C" int vindex_dim(const vindex *v)
{
    return v->dim;
}

extern "C" vindex_kind vindex_get_kind(const vindex *v)
{
    return v->kind;
}

extern "C" size_t vindex_size(const vindex *v)
{
    return (size_t)v->index->ntotal;
}

extern "C" int vindex_kind_is_ivf(vindex_kind kind)
{
    return kind == VINDEX_IVF || kind == VINDEX_IVF_SQ8;
}

extern "C" int vindex_is_trained(const vindex *v)
{
    return v->index->is_trained;
}

extern "C" int vindex_train(vindex *v, const float *x, size_t n)
{
    if (!vindex_kind_is_ivf(v->kind))
        return 0;
    try {
        v->index->train((faiss::Index::idx_t)n, x);
        return 0;
    } catch (const std::exception &e) {
        return fail_exception("cannot train the vector index", e);
    }
}

extern "C" int vindex_add(vindex *v, const int64_t *ids, const float *x, size_t n)
{
    if (!n)
        return 0;
    if (!v->index->is_trained) {
        dq_set_error("cannot add to the vector index: it is not trained");
        return -1;
    }
    try {
        static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "FAISS ids are 64-bit");
        v->index->add_with_ids((faiss::Index::idx_t)n, x, reinterpret_cast<const faiss::Index::idx_t *>(ids));
        return 0;
    } catch (const std::exception &e) {
        return fail_exception("cannot add to the vector index", e);
    }
}

extern "C" long vindex_remove(vindex *v, const int64_t *ids, size_t n)
{
    if (!n)
        return 0;
    if (v->kind == VINDEX_HNSW) {
        dq_set_error("cannot remove from an HNSW vector index: FAISS's HNSW has no removal");
        return -1;
    }
    try {
        faiss::IDSelectorBatch sel(n, reinterpret_cast<const faiss::Index::idx_t *>(ids));
        return (long)v->index->remove_ids(sel);
    } catch (const std::exception &e) {
        return fail_exception("cannot remove from the vector index", e);
    }
}

/* ---- search: FAISS's structures, our kernels ---------------------------- */

/* The best k (score, id) pairs seen: a min-heap on the score, so the worst
 * kept is at the front and a better one replaces it. */
struct top_k {
    std::vector<std::pair<float, int64_t>> h;
    size_t k;
    explicit top_k(size_t k) : k(k) { h.reserve(k); }
    static bool worse(const std::pair<float, int64_t> &a, const std::pair<float, int64_t> &b)
    {
        return a.first > b.first; /* std heaps keep the "largest" first: here the smallest */
    }
    void push(float s, int64_t id)
    {
        if (h.size() < k) {
            h.emplace_back(s, id);
            std::push_heap(h.begin(), h.end(), worse);
        } else if (s > h.front().first) {
            std::pop_heap(h.begin(), h.end(), worse);
            h.back() = {s, id};
            std::push_heap(h.begin(), h.end(), worse);
        }
    }
    void push_all(const float *s, const int64_t *id, size_t n)
    {
        for (size_t i = 0; i < n; i++)
            if (h.size() < k || s[i] > h.front().first)
                push(s[i], id ? id[i] : (int64_t)i);
    }
    /* Best first into scores/ids (k), padded with -FLT_MAX / -1 as FAISS pads. */
    void take(float *scores, int64_t *ids)
    {
        std::sort_heap(h.begin(), h.end(), worse);
        for (size_t i = 0; i < k; i++) {
            scores[i] = i < h.size() ? h[i].first : -FLT_MAX;
            ids[i] = i < h.size() ? h[i].second : -1;
        }
    }
};

/* Exact search over an IDMap2 of a flat inner-product index. */
static bool search_flat(const faiss::Index *index, const vscan_ops *ops, const float *q, int k,
                        float *scores, int64_t *ids)
{
    auto *map = dynamic_cast<const faiss::IndexIDMap2 *>(index);
    auto *flat = map ? dynamic_cast<const faiss::IndexFlat *>(map->index) : nullptr;
    if (!flat || flat->metric_type != faiss::METRIC_INNER_PRODUCT)
        return false;
    size_t n = (size_t)flat->ntotal;
    int dim = (int)flat->d;
    std::vector<float> s(n ? n : 1);
    ops->dots(q, flat->get_xb(), n, dim, s.data());
    top_k top((size_t)k);
    for (size_t i = 0; i < n; i++)
        if (top.h.size() < top.k || s[i] > top.h.front().first)
            top.push(s[i], map->id_map[i]);
    top.take(scores, ids);
    return true;
}

/* An IVF search over IVFFlat or IVF-SQ8 (8-bit, per-dimension ranges, by
 * residual) as FAISS does it - the nprobe lists whose centres score best,
 * every vector in them scored - with SIMD kernels. An 8-bit code c stands
 * for centre + vmin + (c + 0.5) / 255 * vdiff, so q . x is q . centre plus
 * a constant of the query plus sum w[d] c[d] with w = q * vdiff / 255. */
static bool search_ivf(const faiss::Index *index, const vscan_ops *ops, const float *q, int k,
                       float *scores, int64_t *ids)
{
    auto *ivf = dynamic_cast<const faiss::IndexIVF *>(index);
    if (!ivf || ivf->metric_type != faiss::METRIC_INNER_PRODUCT)
        return false;
    auto *sq = dynamic_cast<const faiss::IndexIVFScalarQuantizer *>(index);
    bool flat = dynamic_cast<const faiss::IndexIVFFlat *>(index) != nullptr;
    if (sq && (sq->sq.qtype != faiss::ScalarQuantizer::QT_8bit || !sq->by_residual ||
               sq->sq.trained.size() != 2 * (size_t)ivf->d))
        return false;
    auto *centres = dynamic_cast<const faiss::IndexFlat *>(ivf->quantizer);
    if ((!sq && !flat) || !centres || centres->ntotal != (faiss::Index::idx_t)ivf->nlist)
        return false;
    int dim = (int)ivf->d;
    size_t nlist = ivf->nlist, nprobe = std::min(ivf->nprobe, nlist);
    std::vector<float> cs(nlist);
    ops->dots(q, centres->get_xb(), nlist, dim, cs.data());
    std::vector<uint32_t> lists(nlist);
    for (size_t i = 0; i < nlist; i++)
        lists[i] = (uint32_t)i;
    std::partial_sort(lists.begin(), lists.begin() + (ptrdiff_t)nprobe, lists.end(),
                      [&](uint32_t a, uint32_t b) {
                          return cs[a] != cs[b] ? cs[a] > cs[b] : a < b;
                      });
    std::vector<float> w((size_t)dim);
    float base = 0;
    if (sq) {
        const float *vmin = sq->sq.trained.data(), *vdiff = vmin + dim;
        for (int d = 0; d < dim; d++) {
            w[(size_t)d] = q[d] * vdiff[d] / 255.0f;
            base += q[d] * (vmin[d] + 0.5f * vdiff[d] / 255.0f);
        }
    }
    top_k top((size_t)k);
    std::vector<float> s;
    for (size_t p = 0; p < nprobe; p++) {
        size_t list = lists[p], n = ivf->invlists->list_size(list);
        if (!n)
            continue;
        faiss::InvertedLists::ScopedCodes codes(ivf->invlists, list);
        faiss::InvertedLists::ScopedIds lids(ivf->invlists, list);
        s.resize(n);
        if (sq) {
            ops->sq8(w.data(), codes.get(), n, dim, s.data());
            float add = cs[list] + base;
            for (size_t i = 0; i < n; i++)
                s[i] += add;
        } else {
            ops->dots(q, reinterpret_cast<const float *>(codes.get()), n, dim, s.data());
        }
        top.push_all(s.data(), lids.get(), n);
    }
    top.take(scores, ids);
    return true;
}

/* FAISS's own search: what search_flat and search_ivf replace, kept for the
 * kinds they do not know (HNSW) and for the tests that compare them. */
static int search_faiss(const vindex *v, const float *q, size_t nq, int k, float *scores,
                        int64_t *ids)
{
    /* One question at a time gains nothing from FAISS's threads (it splits
     * work across queries) and pays for waking them: on a busy machine that
     * costs more wall time than the search. omp_set_num_threads sets this
     * thread's setting only, so it is put back for builds. */
    int threads = omp_get_max_threads();
    if (nq < 4)
        omp_set_num_threads(1);
    int rc = 0;
    try {
        v->index->search((faiss::Index::idx_t)nq, q, k, scores, reinterpret_cast<faiss::Index::idx_t *>(ids));
    } catch (const std::exception &e) {
        rc = fail_exception("cannot search the vector index", e);
    }
    omp_set_num_threads(threads);
    return rc;
}

extern "C" int vindex_search(const vindex *v, const float *q, size_t nq, int k, float *scores,
                             int64_t *ids)
{
    if (k <= 0 || !nq)
        return 0;
    const vscan_ops *ops = vscan_ops_for(vscan_best());
    try {
        for (size_t i = 0; i < nq; i++) {
            const float *qi = q + i * (size_t)v->dim;
            float *si = scores + i * (size_t)k;
            int64_t *ii = ids + i * (size_t)k;
            if (!search_ivf(v->index, ops, qi, k, si, ii) &&
                !search_flat(v->index, ops, qi, k, si, ii))
                return search_faiss(v, q, nq, k, scores, ids);
        }
    } catch (const std::exception &e) {
        return fail_exception("cannot search the vector index", e);
    }
    return 0;
}

extern "C" int vindex_search_faiss(const vindex *v, const float *q, size_t nq, int k,
                                   float *scores, int64_t *ids)
{
    if (k <= 0 || !nq)
        return 0;
    return search_faiss(v, q, nq, k, scores, ids);
}

extern "C" void vindex_set_probe(vindex *v, int nprobe)
{
    if (nprobe <= 0)
        return;
    if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(v->index))
        ivf->nprobe = (size_t)nprobe < ivf->nlist ? (size_t)nprobe : ivf->nlist;
    else if (auto *map = dynamic_cast<faiss::IndexIDMap *>(v->index))
        if (auto *h = dynamic_cast<faiss::IndexHNSW *>(map->index))
            h->hnsw.efSearch = nprobe;
}

extern "C" int vindex_lists(const vindex *v)
{
    if (auto *ivf = dynamic_cast<const faiss::IndexIVF *>(v->index))
        return (int)ivf->nlist;
    return 0;
}

extern "C" int vindex_ids(const vindex *v, int64_t **ids, size_t *n)
{
    *ids = nullptr;
    *n = 0;
    std::vector<int64_t> out;
    try {
        if (auto *m2 = dynamic_cast<const faiss::IndexIDMap2 *>(v->index)) {
            out.assign(m2->id_map.begin(), m2->id_map.end());
        } else if (auto *m1 = dynamic_cast<const faiss::IndexIDMap *>(v->index)) {
            out.assign(m1->id_map.begin(), m1->id_map.end());
        } else if (auto *ivf = dynamic_cast<const faiss::IndexIVF *>(v->index)) {
            for (size_t l = 0; l < ivf->nlist; l++) {
                size_t ls = ivf->invlists->list_size(l);
                faiss::InvertedLists::ScopedIds lid(ivf->invlists, l);
                out.insert(out.end(), lid.get(), lid.get() + ls);
            }
        }
    } catch (const std::exception &e) {
        return fail_exception("cannot list the vector index's ids", e);
    }
    *ids = static_cast<int64_t *>(dq_malloc((out.size() ? out.size() : 1) * sizeof(int64_t)));
    if (!out.empty())
        memcpy(*ids, out.data(), out.size() * sizeof(int64_t));
    *n = out.size();
    return 0;
}

/* ---- files -------------------------------------------------------------- */

/* Streams FAISS's serialisation into a FILE, hashing as it goes. */
struct hashing_writer : faiss::IOWriter {
    FILE *f;
    hasher h;
    uint64_t written = 0;
    explicit hashing_writer(FILE *file) : f(file) { name = "vector index"; }
    size_t operator()(const void *ptr, size_t size, size_t nitems) override
    {
        if (!size || !nitems) /* FAISS writes empty vectors with a NULL pointer */
            return nitems;
        size_t got = fwrite(ptr, size, nitems, f);
        h.update(ptr, size * got);
        written += size * got;
        return got;
    }
};

/* Reads the payload [0, limit) of a FILE; reading past it is an error, so a
 * length field that lies cannot send FAISS into the next file's bytes. */
struct bounded_reader : faiss::IOReader {
    FILE *f;
    uint64_t left;
    bounded_reader(FILE *file, uint64_t limit) : f(file), left(limit) { name = "vector index"; }
    size_t operator()(void *ptr, size_t size, size_t nitems) override
    {
        if (!size || !nitems)
            return nitems;
        size_t can = (size_t)(left / size) < nitems ? (size_t)(left / size) : nitems;
        size_t got = fread(ptr, size, can, f);
        left -= (uint64_t)got * size;
        return got;
    }
};

struct header {
    char magic[8];
    uint32_t version;
    uint32_t kind;
    uint32_t dim;
    uint32_t tag_len;
    uint64_t generation;
    uint64_t payload_len;
    uint64_t hash;
};

extern "C" int vindex_write(const vindex *v, const char *path, const char *tag,
                            uint64_t generation)
{
    size_t tag_len = strlen(tag);
    if (tag_len > MAX_TAG) {
        dq_set_error("cannot write '%s': tag longer than %d bytes", path, MAX_TAG);
        return -1;
    }
    std::string tmp = std::string(path) + ".tmp." + std::to_string((long)getpid());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, STORE_FILE_MODE);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f && fd >= 0)
        close(fd);
    if (!f) {
        dq_set_error("cannot write '%s': %s", tmp.c_str(), strerror(errno));
        return -1;
    }
    header hd = {};
    memcpy(hd.magic, MAGIC, 8);
    hd.version = FORMAT_VERSION;
    hd.kind = (uint32_t)v->kind;
    hd.dim = (uint32_t)v->dim;
    hd.tag_len = (uint32_t)tag_len;
    hd.generation = generation;
    bool ok = fwrite(&hd, sizeof hd, 1, f) == 1 && fwrite(tag, 1, tag_len, f) == tag_len;
    hashing_writer w(f);
    hash_header(w.h, v->dim, tag, generation);
    if (ok) {
        try {
            faiss::write_index(v->index, &w);
        } catch (const std::exception &e) {
            dq_set_error("cannot write '%s': %s", path, e.what());
            fclose(f);
            unlink(tmp.c_str());
            return -1;
        }
        hd.payload_len = w.written;
        hd.hash = w.h.final();
        ok = fseek(f, 0, SEEK_SET) == 0 && fwrite(&hd, sizeof hd, 1, f) == 1;
    }
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok || rename(tmp.c_str(), path) != 0) {
        dq_set_error("cannot write '%s': %s", path, strerror(ok ? errno : saved));
        unlink(tmp.c_str());
        return -1;
    }
    /* The rename is durable only once the directory is synced. */
    std::string dir(path);
    size_t slash = dir.rfind('/');
    dir = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static vindex *read_fail(FILE *f, const char *path, const char *reason)
{
    dq_set_error("cannot read vector index '%s': %s", path, reason);
    if (f)
        fclose(f);
    return nullptr;
}

extern "C" vindex *vindex_read(const char *path, char **tag, uint64_t *generation)
{
    *tag = nullptr;
    *generation = 0;
    FILE *f = fopen(path, "rbe");
    if (!f)
        return read_fail(nullptr, path, strerror(errno));
    struct stat sb;
    header hd;
    if (fstat(fileno(f), &sb) != 0 || fread(&hd, sizeof hd, 1, f) != 1)
        return read_fail(f, path, "truncated header");
    if (memcmp(hd.magic, MAGIC, 8) != 0)
        return read_fail(f, path, "not a docqa vector index");
    if (hd.version != FORMAT_VERSION)
        return read_fail(f, path, "unknown format version");
    if (hd.tag_len > MAX_TAG || hd.dim == 0 || hd.dim > 65536 || hd.kind > VINDEX_IVF_SQ8)
        return read_fail(f, path, "corrupt header");
    uint64_t start = sizeof hd + hd.tag_len;
    if ((uint64_t)sb.st_size != start + hd.payload_len)
        return read_fail(f, path, "size does not match its header (truncated or appended)");
    std::string t(hd.tag_len, '\0');
    if (hd.tag_len && fread(&t[0], 1, hd.tag_len, f) != hd.tag_len)
        return read_fail(f, path, "truncated tag");
    if (memchr(t.data(), '\0', t.size()))
        return read_fail(f, path, "corrupt tag");

    hasher h;
    hash_header(h, (int)hd.dim, t.c_str(), hd.generation);
    std::vector<unsigned char> buf(1 << 20);
    uint64_t left = hd.payload_len;
    while (left) {
        size_t want = left < buf.size() ? (size_t)left : buf.size();
        if (fread(buf.data(), 1, want, f) != want)
            return read_fail(f, path, "truncated payload");
        h.update(buf.data(), want);
        left -= want;
    }
    if (h.final() != hd.hash)
        return read_fail(f, path, "checksum mismatch (the file is corrupt)");
    if (fseek(f, (long)start, SEEK_SET) != 0)
        return read_fail(f, path, strerror(errno));

    faiss::Index *index = nullptr;
    try {
        bounded_reader r(f, hd.payload_len);
        index = faiss::read_index(&r);
    } catch (const std::exception &e) {
        dq_set_error("cannot read vector index '%s': %s", path, e.what());
        fclose(f);
        return nullptr;
    }
    fclose(f);
    if (index->d != (int)hd.dim) {
        dq_set_error("cannot read vector index '%s': dimension %d does not match its header %u",
                     path, (int)index->d, hd.dim);
        delete index;
        return nullptr;
    }
    vindex *v = static_cast<vindex *>(dq_calloc(1, sizeof *v));
    v->index = index;
    v->kind = (vindex_kind)hd.kind;
    v->dim = (int)hd.dim;
    *tag = dq_strdup(t.c_str());
    *generation = hd.generation;
    return v;
}
