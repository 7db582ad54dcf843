/* app.js - docqa's web page: ask with a streamed answer and citation chips,
 * show a cited page with the passage highlighted, list and upload documents.
 * Plain browser JavaScript served from the binary: no build step, no CDN.
 * Text from the server is only ever set as textContent, never as HTML. */
'use strict';

const STRINGS = {
  en: {
    tabAsk: 'Ask', tabDocs: 'Documents', questionLabel: 'Question',
    questionPlaceholder: 'Ask a question about your documents',
    askButton: 'Ask', clearButton: 'New conversation',
    askHint: 'Enter asks, Shift+Enter starts a new line, / jumps here.',
    dropHint: 'Drop files here, or press Enter to choose files (PDF, Word, Excel, PowerPoint, EPUB, Markdown, text…)',
    docsCaption: 'Files in the store', colFile: 'File', colStatus: 'Status', colPages: 'Pages',
    colNote: 'Note', close: 'Close', tokenLabel: 'This server needs an access token:',
    tokenSave: 'Save', sources: 'Sources', page: 'Page', pageOf: 'page',
    sourceLabel: 'Show source', highlightAlt: 'Page {page} of {file}, the cited passage highlighted',
    noImage: 'This file has no page images; the cited passage:', uploading: 'Uploading {pct}%',
    officeText: 'Office files have no fixed pages; the cited passage, as text:',
    ingesting: 'Ingesting: {done} of {total} files', uploadDone: 'Done: {ok} added, {failed} failed',
    uploadFailed: 'Upload failed: {msg}', error: 'Error: {msg}', ok: 'ok', failed: 'failed',
    pending: 'pending', noDocs: 'No files yet: drop some above.', loading: 'Loading page…',
    queued: 'Waiting for the model: {ahead} question(s) ahead',
  },
  zh: {
    tabAsk: '提问', tabDocs: '文档', questionLabel: '问题',
    questionPlaceholder: '就您的文档提一个问题',
    askButton: '提问', clearButton: '新对话',
    askHint: '回车提问，Shift+回车换行，按 / 回到这里。',
    dropHint: '把文件拖到这里，或按回车选择文件（PDF、Word、Excel、PowerPoint、EPUB、Markdown、文本…）',
    docsCaption: '文档库中的文件', colFile: '文件', colStatus: '状态', colPages: '页数',
    colNote: '说明', close: '关闭', tokenLabel: '此服务器需要访问令牌：',
    tokenSave: '保存', sources: '来源', page: '第', pageOf: '页',
    sourceLabel: '查看来源', highlightAlt: '{file} 第 {page} 页，引用段落已高亮',
    noImage: '此文件没有页面图像；引用的段落：', uploading: '正在上传 {pct}%',
    officeText: 'Office 文件没有固定页面；引用的段落（文本）：',
    ingesting: '正在导入：{done}/{total} 个文件', uploadDone: '完成：新增 {ok} 个，失败 {failed} 个',
    uploadFailed: '上传失败：{msg}', error: '出错：{msg}', ok: '正常', failed: '失败',
    pending: '等待中', noDocs: '还没有文件：请拖放到上方。', loading: '正在加载页面…',
    queued: '正在等待模型：前面还有 {ahead} 个问题',
  },
};
const LANG = (navigator.languages || [navigator.language || 'en'])
  .some((l) => /^zh\b/i.test(l)) ? 'zh' : 'en';
const T = STRINGS[LANG];

function t(key, vars) {
  let s = T[key] || STRINGS.en[key] || key;
  for (const k in vars || {}) s = s.split('{' + k + '}').join(String(vars[k]));
  return s;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    if (k === 'class') e.className = attrs[k];
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), attrs[k]);
    else e.setAttribute(k, attrs[k]);
  }
  for (const c of children) e.append(c);
  return e;
}

const $ = (id) => document.getElementById(id);

/* ---- token -------------------------------------------------------------- */

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const tok = localStorage.getItem('docqa-token');
  if (tok) h.Authorization = 'Bearer ' + tok;
  return h;
}

function needToken() {
  $('token-box').hidden = false;
  $('token-input').focus();
}

async function api(path, opts) {
  opts = opts || {};
  const r = await fetch(path, Object.assign({}, opts, { headers: authHeaders(opts.headers) }));
  if (r.status === 401) needToken();
  return r;
}

async function errorText(r) {
  try { return (await r.json()).error.message; } catch (e) { return 'HTTP ' + r.status; }
}

/* ---- asking ------------------------------------------------------------- */

let history = [];

function sourceLabel(s) {
  const pages = s.page_start === s.page_end ? s.page_start : s.page_start + '-' + s.page_end;
  const name = s.path.split('/').pop();
  /* Office files are cited by sheet, slide or section instead of page */
  if (s.place) return name + (/^(sheet|slide) /.test(s.place) ? ', ' : ' ') + s.place;
  return LANG === 'zh' ? `${name} 第 ${pages} 页` : `${name} p. ${pages}`;
}

/* The answer with each [n] as a button that opens source n. */
function renderAnswer(node, text, sources) {
  node.textContent = '';
  const byNumber = {};
  for (const s of sources) byNumber[s.number] = s;
  const re = /\[(\d+)\]/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    const s = byNumber[m[1]];
    if (!s) continue;
    node.append(text.slice(last, m.index));
    node.append(el('button', {
      type: 'button', class: 'cite', 'data-source': s.number,
      'aria-label': t('sourceLabel') + ' ' + s.number + ': ' + sourceLabel(s),
      onclick: (ev) => showSource(s, ev.currentTarget),
    }, '[' + s.number + ']'));
    last = m.index + m[0].length;
  }
  node.append(text.slice(last));
}

function renderSources(list, sources) {
  for (const s of sources) {
    const label = '[' + s.number + '] ' + sourceLabel(s) + (s.section ? ' · ' + s.section : '');
    list.append(el('li', {}, el('button', {
      type: 'button', class: 'chip', 'data-source': s.number, 'aria-pressed': 'false',
      onclick: (ev) => showSource(s, ev.currentTarget),
    }, label)));
  }
}

async function ask(question) {
  const turn = el('article', { class: 'turn' });
  const q = el('p', { class: 'q' }, question);
  const a = el('p', { class: 'a pending' });
  turn.append(q, a);
  $('conversation').append(turn);
  turn.scrollIntoView({ block: 'end' });
  const body = JSON.stringify({ question, history, stream: true });
  let answer = '';
  const fail = (msg) => {
    a.classList.remove('pending');
    turn.append(el('p', { class: 'err', role: 'alert' }, t('error', { msg })));
  };
  let r;
  try {
    r = await api('/api/ask', { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  } catch (e) {
    fail(e.message);
    return;
  }
  if (!r.ok) {
    fail(await errorText(r));
    return;
  }
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      if (!line.startsWith('data: ')) continue;
      const ev = JSON.parse(line.slice(6));
      if (ev.type === 'queued') {
        if (ev.ahead > 0 && !answer) a.textContent = t('queued', { ahead: ev.ahead });
      } else if (ev.type === 'delta') {
        answer += ev.text;
        a.textContent = answer;
      } else if (ev.type === 'done') {
        a.classList.remove('pending');
        if (!ev.found) a.classList.add('notfound');
        renderAnswer(a, ev.answer, ev.sources);
        if (ev.sources.length) {
          const list = el('ul', { class: 'sources', 'aria-label': t('sources') });
          renderSources(list, ev.sources);
          turn.append(list);
        }
        turn.dataset.done = 'true';
        history.push({ role: 'user', content: question }, { role: 'assistant', content: ev.answer });
      } else if (ev.type === 'error') {
        fail(ev.message);
      }
    }
  }
  a.classList.remove('pending');
}

/* ---- the page viewer ---------------------------------------------------- */

let viewerOpener = null;
let viewerUrl = null;

function closeViewer() {
  $('viewer').hidden = true;
  document.body.classList.remove('viewing');
  for (const b of document.querySelectorAll('[aria-pressed="true"]')) b.setAttribute('aria-pressed', 'false');
  if (viewerUrl) URL.revokeObjectURL(viewerUrl);
  viewerUrl = null;
  if (viewerOpener) viewerOpener.focus();
}

async function showPage(s, page) {
  const body = $('viewer-body');
  body.textContent = t('loading');
  for (const b of $('viewer-pages').children) {
    if (Number(b.dataset.page) === page) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  const chunks = (s.page_chunks || [s.chunk_id]).join(',');
  const r = await api(`/api/documents/${s.doc_id}/pages/${page}.png?chunk=${chunks}`);
  if (r.status === 404) {
    /* a text file: no page image, show the passage itself */
    body.textContent = '';
    body.append(el('p', {}, t('noImage')), el('blockquote', { id: 'viewer-passage' }, s.snippet));
    return;
  }
  if (!r.ok) {
    body.textContent = t('error', { msg: await errorText(r) });
    return;
  }
  const blob = await r.blob();
  if (viewerUrl) URL.revokeObjectURL(viewerUrl);
  viewerUrl = URL.createObjectURL(blob);
  const img = el('img', {
    id: 'viewer-image', src: viewerUrl,
    alt: t('highlightAlt', { page, file: s.path }),
    'data-highlights': r.headers.get('X-Docqa-Highlights') || '0',
  });
  body.textContent = '';
  body.append(img);
}

/* The snippet with its highlights (UTF-8 byte ranges) as <mark>s. */
function markedPassage(s) {
  const bytes = new TextEncoder().encode(s.snippet || '');
  const dec = new TextDecoder();
  const quote = el('blockquote', { id: 'viewer-passage' });
  let at = 0;
  for (const [a, b] of s.highlights || []) {
    if (a < at || b > bytes.length) continue;
    quote.append(dec.decode(bytes.slice(at, a)), el('mark', {}, dec.decode(bytes.slice(a, b))));
    at = b;
  }
  quote.append(dec.decode(bytes.slice(at)));
  return quote;
}

function showSource(s, opener) {
  viewerOpener = opener;
  for (const b of document.querySelectorAll('[aria-pressed="true"]')) b.setAttribute('aria-pressed', 'false');
  if (opener) opener.setAttribute('aria-pressed', 'true');
  $('viewer-title').textContent = '[' + s.number + '] ' + sourceLabel(s) + (s.section ? ' · ' + s.section : '');
  const pages = $('viewer-pages');
  pages.textContent = '';
  if (s.place) {
    /* no page image to render: the passage itself, its terms marked */
    const body = $('viewer-body');
    body.textContent = '';
    body.append(el('p', {}, t('officeText')), markedPassage(s));
    $('viewer').hidden = false;
    document.body.classList.add('viewing');
    $('viewer-close').focus();
    return;
  }
  if (s.page_end > s.page_start) {
    for (let p = s.page_start; p <= s.page_end; p++)
      pages.append(el('button', { type: 'button', 'data-page': p, onclick: () => showPage(s, p) },
        LANG === 'zh' ? `第 ${p} 页` : `${t('page')} ${p}`));
  }
  $('viewer').hidden = false;
  document.body.classList.add('viewing');
  $('viewer-close').focus();
  showPage(s, s.page_start);
}

/* ---- documents ---------------------------------------------------------- */

async function loadDocuments() {
  const r = await api('/api/documents');
  const tbody = $('docs-table').querySelector('tbody');
  if (!r.ok) return;
  const docs = (await r.json()).documents;
  tbody.textContent = '';
  if (!docs.length) tbody.append(el('tr', {}, el('td', { colspan: '4' }, t('noDocs'))));
  for (const d of docs) {
    tbody.append(el('tr', {},
      el('td', { class: 'path' }, d.path),
      el('td', { class: 'status-' + d.status }, t(d.status)),
      el('td', {}, d.pages != null ? String(d.pages) : '–'),
      el('td', {}, d.error || d.title || '')));
  }
}

function uploadFiles(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) form.append('file', f, f.name);
  const bar = $('upload-progress'), status = $('upload-status');
  bar.hidden = false;
  bar.value = 0;
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/ingest');
  const h = authHeaders();
  for (const k in h) xhr.setRequestHeader(k, h[k]);
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    bar.value = Math.round((e.loaded / e.total) * 50);
    status.textContent = t('uploading', { pct: Math.round((e.loaded / e.total) * 100) });
  };
  xhr.onerror = () => { status.textContent = t('uploadFailed', { msg: 'network' }); bar.hidden = true; };
  xhr.onload = () => {
    let reply = {};
    try { reply = JSON.parse(xhr.responseText); } catch (e) { /* keep {} */ }
    if (xhr.status === 401) needToken();
    if (xhr.status !== 202) {
      status.textContent = t('uploadFailed', { msg: reply.error ? reply.error.message : 'HTTP ' + xhr.status });
      bar.hidden = true;
      return;
    }
    pollJob(reply.job);
  };
  xhr.send(form);
}

async function pollJob(id) {
  const bar = $('upload-progress'), status = $('upload-status');
  for (;;) {
    const r = await api('/api/jobs/' + id);
    if (!r.ok) { status.textContent = t('uploadFailed', { msg: await errorText(r) }); return; }
    const j = await r.json();
    bar.value = 50 + Math.round((j.files_done / Math.max(1, j.files_total)) * 50);
    status.textContent = t('ingesting', { done: j.files_done, total: j.files_total });
    loadDocuments();
    if (j.state !== 'running') {
      bar.value = 100;
      status.textContent = t('uploadDone', { ok: j.files_done - j.files_failed, failed: j.files_failed });
      return;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
}

/* ---- wiring ------------------------------------------------------------- */

function selectTab(which) {
  for (const [tab, view] of [['tab-ask', 'view-ask'], ['tab-docs', 'view-docs']]) {
    const on = tab === which;
    $(tab).setAttribute('aria-selected', String(on));
    $(tab).tabIndex = on ? 0 : -1;
    $(view).hidden = !on;
  }
  if (which === 'tab-docs') loadDocuments();
}

function init() {
  document.documentElement.lang = LANG === 'zh' ? 'zh-CN' : 'en';
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll('[data-i18n-placeholder]')) e.placeholder = t(e.dataset.i18nPlaceholder);

  for (const id of ['tab-ask', 'tab-docs']) {
    $(id).addEventListener('click', () => selectTab(id));
    $(id).addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        const other = id === 'tab-ask' ? 'tab-docs' : 'tab-ask';
        selectTab(other);
        $(other).focus();
      }
    });
  }
  const qbox = $('question');
  $('ask-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = qbox.value.trim();
    if (!q) return;
    qbox.value = '';
    $('ask-button').disabled = true;
    try { await ask(q); } finally { $('ask-button').disabled = false; qbox.focus(); }
  });
  qbox.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('ask-form').requestSubmit();
    }
  });
  $('clear-button').addEventListener('click', () => {
    history = [];
    $('conversation').textContent = '';
    qbox.focus();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('viewer').hidden) closeViewer();
    const typing = /^(INPUT|TEXTAREA)$/.test(document.activeElement.tagName);
    if (e.key === '/' && !typing) {
      e.preventDefault();
      selectTab('tab-ask');
      qbox.focus();
    }
  });
  $('viewer-close').addEventListener('click', closeViewer);

  const zone = $('drop-zone'), input = $('file-input');
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); }
  });
  input.addEventListener('change', () => { uploadFiles(input.files); input.value = ''; });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    uploadFiles(e.dataTransfer.files);
  });

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    localStorage.setItem('docqa-token', $('token-input').value.trim());
    $('token-box').hidden = true;
    qbox.focus();
  });
  qbox.focus();
}

init();
