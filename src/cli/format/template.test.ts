import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTemplate } from './template.js';

const data = {
  Name: 'web',
  Config: { Env: ['A=1', 'B=2'], Labels: { z: '1', a: '2' }, Cmd: null },
  State: { Running: true, ExitCode: 0, Pid: 1234 },
  NetworkSettings: { IPAddress: '172.17.0.2', Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] } },
  Size: 1234567,
};

test('fields, nested fields and Go value printing', () => {
  assert.equal(renderTemplate('{{.Name}}', data), 'web');
  assert.equal(renderTemplate('{{.NetworkSettings.IPAddress}}', data), '172.17.0.2');
  assert.equal(renderTemplate('{{.Config.Env}}', data), '[A=1 B=2]');
  assert.equal(renderTemplate('{{.Config.Labels}}', data), 'map[a:2 z:1]');
  assert.equal(renderTemplate('{{.State.Pid}} {{.Size}}', data), '1234 1234567');
  assert.equal(renderTemplate('{{.Missing}}', data), '<no value>');
  assert.equal(renderTemplate('{{.Config.Cmd}}', data), '<nil>');
});

test('control structures, variables and trim markers', () => {
  assert.equal(renderTemplate('{{if .State.Running}}up{{else}}down{{end}}', data), 'up');
  assert.equal(renderTemplate('{{if eq .Name "x"}}x{{else if eq .Name "web"}}w{{else}}?{{end}}', data), 'w');
  assert.equal(renderTemplate('{{range .Config.Env}}[{{.}}]{{end}}', data), '[A=1][B=2]');
  assert.equal(renderTemplate('{{range $i, $e := .Config.Env}}{{$i}}={{$e}};{{end}}', data), '0=A=1;1=B=2;');
  assert.equal(renderTemplate('{{range $k, $v := .Config.Labels}}{{$k}}{{$v}} {{end}}', data), 'a2 z1 ');
  assert.equal(renderTemplate('{{range .Nothing}}x{{else}}empty{{end}}', { Nothing: [] }), 'empty');
  assert.equal(renderTemplate('{{with .State}}{{.ExitCode}}{{end}}', data), '0');
  assert.equal(renderTemplate('a  {{- .Name -}}  b', data), 'awebb');
  assert.equal(renderTemplate('{{$n := .Name}}{{$n}}{{/* note */}}', data), 'web');
  assert.equal(
    renderTemplate('{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}', data),
    '80/tcp -> 8080',
  );
});

test('functions: logic, comparison, index, len, printf, json, join, split, case', () => {
  assert.equal(renderTemplate('{{and .State.Running .Name}}', data), 'web');
  assert.equal(renderTemplate('{{or .Missing "d"}}', data), 'd');
  assert.equal(renderTemplate('{{not .State.Running}}', data), 'false');
  assert.equal(renderTemplate('{{if and (gt .Size 10) (lt .State.ExitCode 1)}}ok{{end}}', data), 'ok');
  assert.equal(renderTemplate('{{ne .Name "db"}}', data), 'true');
  assert.equal(renderTemplate('{{index .Config.Labels "z"}} {{index .Config.Env 1}}', data), '1 B=2');
  assert.equal(renderTemplate('{{len .Config.Env}}', data), '2');
  assert.equal(renderTemplate('{{printf "%s:%d|%-5s|%5.1f" .Name 42 "ab" 3.14159}}', data), 'web:42|ab   |  3.1');
  assert.equal(renderTemplate('{{json .Config.Labels}}', data), '{"z":"1","a":"2"}');
  assert.equal(renderTemplate('{{join .Config.Env ","}}', data), 'A=1,B=2');
  assert.equal(renderTemplate('{{index (split "a:b:c" ":") 1}}', data), 'b');
  assert.equal(renderTemplate('{{upper .Name}} {{.Name | upper}} {{lower "AB"}}', data), 'WEB WEB ab');
  assert.equal(renderTemplate('{{.Name | printf "%s!"}}', data), 'web!');
});

test('errors are reported, not thrown as crashes', () => {
  assert.throws(() => renderTemplate('{{if .Name}}', data), /missing \{\{end\}\}/);
  assert.throws(() => renderTemplate('{{nosuch .Name}}', data), /function "nosuch" not defined/);
  assert.throws(() => renderTemplate('{{.Name', data), /unclosed action/);
});
