// The browser client of the chat: log in over HTTP, then talk to /ws/rooms/<room>/ over a WebSocket.
// Everything users wrote is put into the page with textContent, never as HTML.
'use strict';

(() => {
  const root = document.getElementById('chat');
  const element = (id) => document.getElementById(id);
  const statusLine = element('status');
  const messages = element('messages');
  const members = element('members');

  // Tokens are kept in memory only: reloading the page means logging in again.
  let tokens = null;
  let tokensIssuedAt = 0;
  let socket = null;
  const ACCESS_TOKEN_MAX_AGE_MS = 10 * 60 * 1000; // the server's access tokens live 15 minutes

  function setStatus(text) {
    statusLine.textContent = text;
  }

  async function postJSON(path, body, token) {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body ?? {}) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof data.detail === 'string' ? data.detail : Object.values(data).join(' ');
      throw new Error(detail || `HTTP ${response.status}`);
    }
    return data;
  }

  // The WebSocket URL carries the access token, so it must be fresh when a connection is opened.
  async function accessToken() {
    if (Date.now() - tokensIssuedAt > ACCESS_TOKEN_MAX_AGE_MS) {
      tokens = await postJSON('/api/refresh/', null, tokens.refresh_token);
      tokensIssuedAt = Date.now();
    }
    return tokens.access_token;
  }

  function addLine(className, parts) {
    const item = document.createElement('li');
    if (className) item.className = className;
    for (const [tag, text, extraClass] of parts) {
      const part = document.createElement(tag);
      if (extraClass) part.className = extraClass;
      part.textContent = text;
      item.append(part);
    }
    messages.append(item);
    messages.scrollTop = messages.scrollHeight;
  }

  function addMessage(message) {
    const sentAt = new Date(message.sent_at);
    addLine('', [
      ['time', sentAt.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })],
      ['span', message.user, 'user'],
      ['span', message.text],
    ]);
  }

  function showMembers(names) {
    members.replaceChildren(...names.map((name) => {
      const item = document.createElement('li');
      item.textContent = name;
      return item;
    }));
  }

  function handle(event) {
    switch (event.type) {
      case 'history':
        messages.replaceChildren();
        event.messages.forEach(addMessage);
        break;
      case 'message':
        addMessage(event);
        break;
      case 'join':
        addLine('notice', [['span', `${event.user} joined`]]);
        showMembers(event.members);
        break;
      case 'leave':
        addLine('notice', [['span', `${event.user} left`]]);
        showMembers(event.members);
        break;
      case 'error': {
        const detail = typeof event.detail === 'string' ? event.detail : Object.values(event.detail).join(' ');
        addLine('error', [['span', detail]]);
        break;
      }
      default:
        break;
    }
  }

  async function join(room) {
    if (socket) socket.close(1000, 'Changing room');
    const url = new URL(`/ws/rooms/${encodeURIComponent(room)}/`, window.location.href);
    url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('authorization', await accessToken());
    const current = new WebSocket(url);
    socket = current;
    setStatus(`Joining ${room}…`);
    let opened = false;
    current.addEventListener('open', () => {
      opened = true;
      setStatus(`In room ${room}`);
    });
    current.addEventListener('message', (message) => handle(JSON.parse(message.data)));
    current.addEventListener('close', (close) => {
      if (socket !== current) return; // a room change closed it on purpose
      if (!opened) {
        // The server refused the handshake (browsers do not show its HTTP answer to scripts).
        setStatus('Could not join: check the room name (a-z, 0-9, "-", "_"), or wait a minute and try again.');
        return;
      }
      const reason = close.reason ? `: ${close.reason}` : '';
      setStatus(`Disconnected (${close.code}${reason}). Join again to reconnect.`);
    });
    element('room-view').hidden = false;
  }

  element('account').addEventListener('submit', async (event) => {
    event.preventDefault();
    const credentials = { username: element('username').value, password: element('password').value };
    try {
      if (event.submitter?.dataset.action === 'signup') {
        await postJSON('/api/signup/', credentials);
      }
      tokens = await postJSON('/api/login/', credentials);
      tokensIssuedAt = Date.now();
      element('account').hidden = true;
      element('join').hidden = false;
      setStatus(`Logged in as ${credentials.username.toLowerCase()}`);
    } catch (error) {
      setStatus(error.message);
    }
  });

  element('join').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await join(element('room').value);
    } catch (error) {
      setStatus(error.message);
    }
  });

  element('send').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = element('text');
    const text = input.value.trim();
    if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ text: text.slice(0, Number(root.dataset.maxLength)) }));
    input.value = '';
  });
})();
