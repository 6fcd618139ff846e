import { describe, expect, it } from 'vitest';
import {
  isRequestFormatRejection,
  LoginFieldMemory,
  namesLoginField,
  otherLoginField,
} from './idmp-login-field.ts';

const JACKSON_UNKNOWN = JSON.stringify({
  status: 400,
  error: 'Bad Request',
  message:
    'JSON parse error: Unrecognized field "login_name" (class com.taosdata.tda.user.dto.LoginReqDTO), not marked as ignorable (2 known properties: "loginName", "password"])',
});
const QUARKUS_MISSING = JSON.stringify({
  title: 'Constraint Violation',
  status: 400,
  violations: [{ field: 'login.req.loginName', message: 'must not be blank' }],
});

describe('which 400s are about the login name field', () => {
  it.each<[string, number, string, boolean, boolean]>([
    ["Jackson's unknown field", 400, JACKSON_UNKNOWN, true, true],
    ['a missing field (Bean Validation)', 400, QUARKUS_MISSING, true, true],
    [
      'Jackson missing creator property',
      400,
      "Missing required creator property 'loginName' (index 0)",
      true,
      true,
    ],
    [
      'an unknown field that is not the login name',
      400,
      'Unrecognized field "captcha" (class X), not marked as ignorable',
      true,
      false,
    ],
    [
      'a wrong password answered 400',
      400,
      '{"code":400,"message":"Invalid login name or password"}',
      false,
      false,
    ],
    ['a 401 quoting the field', 401, 'Unrecognized field "login_name"', false, false],
    [
      'the lenient emulator',
      400,
      '{"code":400,"message":"login name and password are required"}',
      false,
      false,
    ],
  ])('%s', (_, status, body, format, loginField) => {
    expect(isRequestFormatRejection(status, body)).toBe(format);
    expect(namesLoginField(status, body)).toBe(loginField);
  });
});

describe('LoginFieldMemory', () => {
  it('remembers per baseUrl, a trailing slash being the same server', () => {
    const memory = new LoginFieldMemory();
    memory.set('http://idmp-a:6042/', 'loginName');
    expect(memory.get('http://idmp-a:6042')).toBe('loginName');
    expect(memory.get('http://idmp-b:6042')).toBeUndefined();
    expect(otherLoginField('loginName')).toBe('login_name');
    expect(otherLoginField('login_name')).toBe('loginName');
  });
});
